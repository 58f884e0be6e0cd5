/* The Python types of the hot path, shared by py_world.c, py_observer.c and module.c. */
#ifndef PY_HOTPATH_H
#define PY_HOTPATH_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "observer.h"

#define ITEM_FRAMES 0   /* World.feed() items: a batch of frames */
#define ITEM_ERROR (-1) /* ... the bytes broke the link protocol */

typedef struct {
    PyObject_HEAD
    struct q3_world *w;
    struct gt_buffer in; /* link bytes not consumed yet */
    int frames_allowed;  /* the handshake is done: FRAME and WAITING are applied here */
    PyObject *error;     /* the link broke the protocol: every later feed reports it again */
} WorldObject;

typedef struct {
    PyObject_HEAD
    struct q3_observer *o;
    PyObject *world;
} ObserverObject;

extern PyTypeObject WorldType, ObserverType;
extern PyObject *InvalidField; /* ValueError subclass: args (field, message) */

PyObject *bytes_of(const struct gt_buffer *b); /* a bytes copy, or MemoryError if building it failed */
PyObject *hp_cpu_estimates(PyObject *mod, PyObject *unused); /* cpu_estimates.c */
PyObject *World_observer(WorldObject *self, PyObject *args, PyObject *kw);

#endif
