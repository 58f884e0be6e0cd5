/* gametap.q3._hotpath.Observer: one agent stream's views of a World (World.observer makes them). */
#include "py_hotpath.h"

PyObject *World_observer(WorldObject *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"frames_per_step", "structured", "features", NULL};
    int frames_per_step, structured = 1, features = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "i|pp", names, &frames_per_step, &structured, &features))
        return NULL;
    ObserverObject *obs = PyObject_New(ObserverObject, &ObserverType);
    if (!obs)
        return NULL;
    obs->o = q3_observer_new(self->w, frames_per_step, structured, features);
    Py_INCREF(self);
    obs->world = (PyObject *)self;
    if (!obs->o) {
        Py_DECREF(obs);
        return PyErr_NoMemory();
    }
    return (PyObject *)obs;
}

static void Observer_dealloc(ObserverObject *self)
{
    q3_observer_free(self->o);
    Py_XDECREF(self->world);
    PyObject_Free(self);
}

static PyObject *Observer_set_slots(ObserverObject *self, PyObject *arg)
{
    int clients[NPLAYERS], pvs[NPLAYERS];
    PyObject *seq = PySequence_Fast(arg, "slots must be a sequence of (client, pvs)");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > NPLAYERS) {
        Py_DECREF(seq);
        PyErr_Format(PyExc_ValueError, "%zd slots; at most %d", n, NPLAYERS);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "ip", &clients[i], &pvs[i])) {
            Py_DECREF(seq);
            return NULL;
        }
    }
    Py_DECREF(seq);
    if (q3_observer_set_slots(self->o, clients, pvs, (int)n)) {
        PyErr_SetString(PyExc_ValueError, "a slot's client is outside -1..63 (or out of memory)");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *Observer_observe(ObserverObject *self, PyObject *args)
{
    int final;
    unsigned int game_us;
    PyObject *left_list;
    int left[NPLAYERS];
    if (!PyArg_ParseTuple(args, "pIO", &final, &game_us, &left_list))
        return NULL;
    PyObject *seq = PySequence_Fast(left_list, "left must be a sequence of clients");
    if (!seq)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > NPLAYERS)
        n = NPLAYERS;
    for (Py_ssize_t i = 0; i < n; i++) {
        left[i] = (int)PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));
        if (left[i] == -1 && PyErr_Occurred()) {
            Py_DECREF(seq);
            return NULL;
        }
    }
    Py_DECREF(seq);
    q3_observer_observe(self->o, final, game_us, left, (int)n);
    return bytes_of(&self->o->out);
}

/* Raises InvalidField(field, message); returns NULL. */
static PyObject *invalid_field(const char *field, const char *message)
{
    PyObject *e = Py_BuildValue("(ss)", field, message);
    if (e) {
        PyErr_SetObject(InvalidField, e);
        Py_DECREF(e);
    }
    return NULL;
}

static PyObject *Observer_actions(ObserverObject *self, PyObject *arg)
{
    Py_buffer data;
    char field[64], message[512];
    uint64_t frame;
    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE))
        return NULL;
    int r = q3_observer_actions(self->o, data.buf, (size_t)data.len, &frame, field, sizeof(field), message,
                                sizeof(message));
    PyBuffer_Release(&data);
    if (r)
        return invalid_field(field, message);
    PyObject *records = bytes_of(&self->o->out);
    if (!records)
        return NULL;
    PyObject *out = Py_BuildValue("(KN)", (unsigned long long)frame, records);
    return out;
}

static PyObject *Observer_action_rows(ObserverObject *self, PyObject *arg)
{
    Py_buffer data;
    char field[64], message[512];
    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE))
        return NULL;
    int r = q3_observer_action_rows(self->o, data.buf, (size_t)data.len, field, sizeof(field), message,
                                    sizeof(message));
    PyBuffer_Release(&data);
    if (r)
        return invalid_field(field, message);
    return bytes_of(&self->o->out);
}

static PyObject *Observer_hold_records(ObserverObject *self, PyObject *unused)
{
    (void)unused;
    q3_observer_hold_records(self->o);
    return bytes_of(&self->o->out);
}

static PyObject *Observer_resync(ObserverObject *self, PyObject *unused)
{
    (void)unused;
    q3_observer_resync(self->o);
    Py_RETURN_NONE;
}

static PyMethodDef Observer_methods[] = {
    {"set_slots", (PyCFunction)Observer_set_slots, METH_O,
     "set_slots([(client, pvs), ...]): the stream's slots now, in order (client -1: not in the game yet)."},
    {"observe", (PyCFunction)Observer_observe, METH_VARARGS,
     "observe(final, game_us, left) -> a serialized PlayResponse{observation} of the current frame."},
    {"actions", (PyCFunction)Observer_actions, METH_O,
     "actions(ActionBatch bytes) -> (frame, CONTROL action records); raises InvalidField(field, message)."},
    {"action_rows", (PyCFunction)Observer_action_rows, METH_O,
     "action_rows(float32 bytes, ACTION_ROW_SIZE per slot in slot order) -> CONTROL action records; "
     "raises InvalidField(field, message)."},
    {"hold_records", (PyCFunction)Observer_hold_records, METH_NOARGS,
     "CONTROL records that hold each slot still, looking where its player looks."},
    {"resync", (PyCFunction)Observer_resync, METH_NOARGS, "The next observation starts from keyframes."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject ObserverType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gametap.q3._hotpath.Observer",
    .tp_basicsize = sizeof(ObserverObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One agent stream's views of a World (World.observer makes them).",
    .tp_dealloc = (destructor)Observer_dealloc,
    .tp_methods = Observer_methods,
};
