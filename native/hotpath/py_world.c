/* gametap.q3._hotpath.World: one match's world; the game's link bytes in, serialized updates out. */
#include "py_hotpath.h"

static int World_init(WorldObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"keyframe_interval", "record", NULL};
    int interval = 100, record = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|ip", names, &interval, &record))
        return -1;
    if (self->w) {
        PyErr_SetString(PyExc_RuntimeError, "World is already initialised");
        return -1;
    }
    self->w = PyMem_RawMalloc(sizeof(*self->w));
    if (!self->w) {
        PyErr_NoMemory();
        return -1;
    }
    q3_world_init(self->w, interval, record);
    return 0;
}

static void World_dealloc(WorldObject *self)
{
    if (self->w) {
        q3_world_free(self->w);
        PyMem_RawFree(self->w);
    }
    gt_buffer_free(&self->in);
    Py_XDECREF(self->error);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

PyObject *bytes_of(const struct gt_buffer *b)
{
    if (b->failed)
        return PyErr_NoMemory();
    return PyBytes_FromStringAndSize((const char *)b->data, (Py_ssize_t)b->len);
}

/* The frames gathered so far, as one item: (0, deltas, keyframes[(index, bytes)], records, reset). */
struct batch {
    PyObject *deltas, *keyframes;
    int reset;
};

static int flush_batch(WorldObject *self, struct batch *b, PyObject *items)
{
    if (!b->deltas)
        return 0;
    struct q3_world *w = self->w;
    PyObject *records = w->record ? bytes_of(&w->records) : PyBytes_FromStringAndSize("", 0);
    w->records.len = 0;
    PyObject *item = records ? Py_BuildValue("(iOOOO)", ITEM_FRAMES, b->deltas, b->keyframes, records,
                                             b->reset ? Py_True : Py_False) : NULL;
    Py_XDECREF(records);
    Py_CLEAR(b->deltas);
    Py_CLEAR(b->keyframes);
    b->reset = 0;
    if (!item)
        return -1;
    int r = PyList_Append(items, item);
    Py_DECREF(item);
    return r;
}

static int add_frame(WorldObject *self, struct batch *b, const struct q3_frame *f)
{
    struct q3_world *w = self->w;
    if (!b->deltas && (!(b->deltas = PyList_New(0)) || !(b->keyframes = PyList_New(0))))
        return -1; /* a batch even if no frame applies: Python learns that the level ended */
    if (!q3_apply_frame(w, f))
        return 0; /* the level ended: later frames are not the match's */
    if (w->delta.failed || w->keyframe.failed || w->records.failed || w->scratch.failed || w->events.data.failed) {
        PyErr_NoMemory();
        return -1;
    }
    b->reset |= (f->flags & GT_FRAME_RESET) != 0;
    PyObject *delta = bytes_of(&w->delta);
    if (!delta || PyList_Append(b->deltas, delta)) {
        Py_XDECREF(delta);
        return -1;
    }
    Py_DECREF(delta);
    if (w->has_keyframe) {
        PyObject *kf = Py_BuildValue("(ny#)", PyList_GET_SIZE(b->deltas) - 1, (const char *)w->keyframe.data,
                                     (Py_ssize_t)w->keyframe.len);
        if (!kf || PyList_Append(b->keyframes, kf)) {
            Py_XDECREF(kf);
            return -1;
        }
        Py_DECREF(kf);
    }
    return 0;
}

static void set_broken(WorldObject *self, const char *message)
{
    Py_XDECREF(self->error);
    self->error = PyUnicode_DecodeUTF8(message, (Py_ssize_t)strlen(message), "replace");
}

static const char *const MSG_NAMES[] = {"", "HELLO", "WELCOME", "MODULE", "MODULE_OK", "FRAME",
                                        "COMMAND", "END", "ERROR", "CONTROL", "WAITING"};

/* Handles the messages in p[0..n): returns the bytes consumed, or -1 on a Python error.
 * Stops after a message Python must see before anything else is read (*stop). */
static Py_ssize_t consume(WorldObject *self, const uint8_t *p, size_t n, PyObject *items, struct batch *b)
{
    size_t pos = 0;
    char err[300];
    uint64_t t = hp_now_ns();
    while (n - pos >= sizeof(gt_msg_header_t)) {
        gt_msg_header_t h;
        memcpy(&h, p + pos, sizeof(h));
        if (h.size > GT_LINK_MAX_PAYLOAD)
            snprintf(err, sizeof(err), "message of %u bytes exceeds the %u-byte limit", h.size, GT_LINK_MAX_PAYLOAD);
        else if (h.type < GT_MSG_HELLO || h.type > GT_MSG_WAITING)
            snprintf(err, sizeof(err), "unknown message type %u", h.type);
        else if (h.reserved)
            snprintf(err, sizeof(err), "%s: reserved header field is %u, not 0", MSG_NAMES[h.type], h.reserved);
        else
            err[0] = 0;
        if (err[0]) {
            set_broken(self, err);
            return (Py_ssize_t)n;
        }
        if (n - pos - sizeof(h) < h.size)
            break;
        const uint8_t *payload = p + pos + sizeof(h);
        pos += sizeof(h) + h.size;
        if (h.type == GT_MSG_FRAME && self->frames_allowed) {
            struct q3_frame f;
            if (q3_decode_frame(payload, h.size, &f, err, sizeof(err))) {
                set_broken(self, err);
                return (Py_ssize_t)n;
            }
            hp_time(ST_LINK, &t);
            if (add_frame(self, b, &f))
                return -1;
            t = hp_now_ns();
            continue;
        }
        if (flush_batch(self, b, items))
            return -1;
        PyObject *item;
        if (h.type == GT_MSG_WAITING && self->frames_allowed) {
            gt_waiting_t wt;
            if (h.size != sizeof(wt)) {
                snprintf(err, sizeof(err), "WAITING: %u bytes, expected %zu", h.size, sizeof(wt));
                set_broken(self, err);
                return (Py_ssize_t)n;
            }
            memcpy(&wt, payload, sizeof(wt));
            item = Py_BuildValue("(iII)", GT_MSG_WAITING, wt.frame, wt.busy_us);
        } else {
            item = Py_BuildValue("(iy#)", h.type, (const char *)payload, (Py_ssize_t)h.size);
        }
        if (!item || PyList_Append(items, item)) {
            Py_XDECREF(item);
            return -1;
        }
        Py_DECREF(item);
        if (h.type != GT_MSG_WAITING || !self->frames_allowed)
            break; /* Python answers it (the handshake may change what comes next) */
    }
    hp_time(ST_LINK, &t);
    return (Py_ssize_t)pos;
}

static PyObject *World_feed(WorldObject *self, PyObject *arg)
{
    Py_buffer data;
    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE))
        return NULL;
    PyObject *items = PyList_New(0);
    struct batch b = {0};
    if (!items)
        goto fail;
    if (!self->error) {
        const uint8_t *p = data.buf;
        size_t n = (size_t)data.len;
        if (self->in.len) { /* an incomplete message from last time: join it */
            if (gt_buffer_append(&self->in, data.buf, (size_t)data.len)) {
                PyErr_NoMemory();
                goto fail;
            }
            p = self->in.data;
            n = self->in.len;
        }
        Py_ssize_t used = consume(self, p, n, items, &b);
        if (used < 0 || flush_batch(self, &b, items))
            goto fail;
        size_t rest = n - (size_t)used;
        if (p == self->in.data) {
            memmove(self->in.data, self->in.data + used, rest);
            self->in.len = rest;
        } else if (rest && gt_buffer_append(&self->in, p + used, rest)) {
            PyErr_NoMemory();
            goto fail;
        }
    }
    if (self->error) {
        PyObject *item = Py_BuildValue("(iO)", ITEM_ERROR, self->error);
        if (!item || PyList_Append(items, item)) {
            Py_XDECREF(item);
            goto fail;
        }
        Py_DECREF(item);
    }
    PyBuffer_Release(&data);
    return items;
fail:
    Py_XDECREF(b.deltas);
    Py_XDECREF(b.keyframes);
    Py_XDECREF(items);
    PyBuffer_Release(&data);
    return NULL;
}

static PyObject *World_accept_frames(WorldObject *self, PyObject *args)
{
    int on = 1;
    if (!PyArg_ParseTuple(args, "|p", &on))
        return NULL;
    self->frames_allowed = on;
    Py_RETURN_NONE;
}

static PyObject *World_pending(WorldObject *self, void *unused)
{
    (void)unused;
    return PyLong_FromSize_t(self->in.len);
}

static PyObject *World_state(WorldObject *self, PyObject *unused)
{
    (void)unused;
    struct gt_buffer b = {0};
    q3_state(self->w, &b, NULL);
    PyObject *r = bytes_of(&b);
    gt_buffer_free(&b);
    return r;
}

static PyObject *World_keyframe(WorldObject *self, PyObject *unused)
{
    (void)unused;
    struct gt_buffer b = {0};
    q3_keyframe_update(self->w, &b, 1);
    PyObject *r = bytes_of(&b);
    gt_buffer_free(&b);
    return r;
}

static PyObject *World_players(WorldObject *self, PyObject *unused)
{
    (void)unused;
    PyObject *out = PyList_New(0);
    for (int c = 0; out && c < NPLAYERS; c++) {
        if (!q3_player_present(self->w, c))
            continue;
        const struct q3_info *info = &self->w->info[c];
        PyObject *item = Py_BuildValue("(is#O)", c, (const char *)info->name.data, (Py_ssize_t)info->name.len,
                                       info->is_bot ? Py_True : Py_False);
        if (!item || PyList_Append(out, item))
            Py_CLEAR(out);
        Py_XDECREF(item);
    }
    return out;
}

static PyObject *World_has_player(WorldObject *self, PyObject *arg)
{
    long client = PyLong_AsLong(arg);
    if (client == -1 && PyErr_Occurred())
        return NULL;
    return PyBool_FromLong(client >= 0 && client < NPLAYERS && q3_player_present(self->w, (int)client));
}

static PyObject *World_set_agent(WorldObject *self, PyObject *args)
{
    int client, driven;
    if (!PyArg_ParseTuple(args, "ip", &client, &driven))
        return NULL;
    if (client < 0 || client >= NPLAYERS) {
        PyErr_Format(PyExc_ValueError, "client %d is outside 0..%d", client, NPLAYERS - 1);
        return NULL;
    }
    q3_set_controller(self->w, client, driven ? PBE_CONTROLLER_AGENT : 0);
    Py_RETURN_NONE;
}

static PyObject *World_stats(WorldObject *self, PyObject *unused)
{
    (void)unused;
    struct q3_world *w = self->w;
    return Py_BuildValue("{sKsKsKsK}", "frames", (unsigned long long)w->stats.frames, "delta_bytes",
                         (unsigned long long)w->stats.delta_bytes, "keyframes", (unsigned long long)w->stats.keyframes,
                         "keyframe_bytes", (unsigned long long)w->stats.keyframe_bytes);
}

static PyObject *World_get_frame(WorldObject *self, void *unused)
{
    (void)unused;
    return PyLong_FromUnsignedLong(self->w->frame);
}

static PyObject *World_get_level_time(WorldObject *self, void *unused)
{
    (void)unused;
    return PyLong_FromLong(self->w->level_time);
}

static PyObject *World_get_level_exited(WorldObject *self, void *unused)
{
    (void)unused;
    return PyBool_FromLong(self->w->level_exited);
}

static PyObject *World_get_players_left(WorldObject *self, void *unused)
{
    (void)unused;
    return PyLong_FromUnsignedLongLong(self->w->stats.players_left);
}

static PyObject *World_get_error(WorldObject *self, void *unused)
{
    (void)unused;
    if (!self->error)
        Py_RETURN_NONE;
    Py_INCREF(self->error);
    return self->error;
}

static PyMethodDef World_methods[] = {
    {"feed", (PyCFunction)World_feed, METH_O,
     "feed(data) -> items: the link bytes' messages, in order. (0, deltas, keyframes, records, reset) for "
     "consecutive frames (keyframes: (index into deltas, WorldUpdate bytes)); (10, frame, busy_us) for WAITING; "
     "(type, payload) for any other message, after which feeding stops: call feed(b'') to go on; "
     "(-1, reason) if the bytes broke the protocol (then always)."},
    {"accept_frames", (PyCFunction)World_accept_frames, METH_VARARGS,
     "accept_frames(on=True): apply FRAME and WAITING messages from now on (off: hand them to Python)."},
    {"state", (PyCFunction)World_state, METH_NOARGS, "The current WorldState, serialized."},
    {"keyframe", (PyCFunction)World_keyframe, METH_NOARGS, "The current state as a serialized WorldUpdate."},
    {"players", (PyCFunction)World_players, METH_NOARGS, "[(client, name, is_bot)] of the players in the game."},
    {"has_player", (PyCFunction)World_has_player, METH_O, "has_player(client): the slot's player is in the game."},
    {"set_agent", (PyCFunction)World_set_agent, METH_VARARGS,
     "set_agent(client, driven): the slot shows as driven by an agent (or not) from the next frame."},
    {"stats", (PyCFunction)World_stats, METH_NOARGS, "Frames, delta and keyframe counts and bytes."},
    {"observer", (PyCFunction)(void (*)(void))World_observer, METH_VARARGS | METH_KEYWORDS,
     "observer(frames_per_step, structured=True, features=False) -> Observer"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef World_getset[] = {
    {"frame", (getter)World_get_frame, NULL, "The last frame applied.", NULL},
    {"level_time_ms", (getter)World_get_level_time, NULL, "Its level time.", NULL},
    {"level_exited", (getter)World_get_level_exited, NULL,
     "The game's limits ended the level (later frames are not applied).", NULL},
    {"error", (getter)World_get_error, NULL, "Why the link bytes were refused, or None.", NULL},
    {"players_left", (getter)World_get_players_left, NULL, "How many players have left the game so far.", NULL},
    {"pending", (getter)World_pending, NULL, "Bytes of an incomplete message held back.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject WorldType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gametap.q3._hotpath.World",
    .tp_basicsize = sizeof(WorldObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One match's world: the game's link bytes in, serialized updates out.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)World_init,
    .tp_dealloc = (destructor)World_dealloc,
    .tp_methods = World_methods,
    .tp_getset = World_getset,
};
