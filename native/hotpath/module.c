/*
 * gametap.q3._hotpath: the Python face of the hot path. Two types:
 *
 *   World(keyframe_interval, record)  one match: link bytes in, serialized updates out
 *   Observer                          one agent stream's views of a World
 *
 * the stage timers (timings, reset_timings) and the CPU's estimate digest (cpu_estimates). Python calls it
 * once per batch of frames or per step; everything per field happens in C.
 */
#include "gametap_features.h"
#include "py_hotpath.h"

PyObject *InvalidField;

static PyObject *hp_timings_py(PyObject *mod, PyObject *unused)
{
    (void)mod;
    (void)unused;
    PyObject *d = PyDict_New();
    for (int i = 0; d && i < ST_COUNT; i++) {
        PyObject *v = Py_BuildValue("(Kd)", (unsigned long long)hp_timings[i].calls, hp_timings[i].ns / 1e9);
        if (!v || PyDict_SetItemString(d, hp_stage_names[i], v))
            Py_CLEAR(d);
        Py_XDECREF(v);
    }
    return d;
}

static PyObject *hp_reset_timings(PyObject *mod, PyObject *unused)
{
    (void)mod;
    (void)unused;
    memset(hp_timings, 0, sizeof(hp_timings));
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"timings", hp_timings_py, METH_NOARGS, "{stage: (calls, seconds)} spent in each hot-path stage (this process)."},
    {"reset_timings", hp_reset_timings, METH_NOARGS, "Zeroes the stage timers."},
    {"cpu_estimates", hp_cpu_estimates, METH_NOARGS,
     "A digest (16 hex digits) of this CPU's rsqrtss and rcpss results, which differ between CPU makers."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "gametap.q3._hotpath",
    "The daemon's hot path for OpenArena matches (C): see native/hotpath/hp.h.", -1, module_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__hotpath(void)
{
    if (PyType_Ready(&WorldType) < 0 || PyType_Ready(&ObserverType) < 0)
        return NULL;
    /* The item kinds of feed(), as class attributes (the generic core reads them off the world). */
    PyObject *frames = PyLong_FromLong(ITEM_FRAMES), *broken = PyLong_FromLong(ITEM_ERROR);
    int bad = !frames || !broken || PyDict_SetItemString(WorldType.tp_dict, "FRAMES", frames) ||
              PyDict_SetItemString(WorldType.tp_dict, "BROKEN", broken);
    Py_XDECREF(frames);
    Py_XDECREF(broken);
    if (bad)
        return NULL;
    PyType_Modified(&WorldType);
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    InvalidField = PyErr_NewExceptionWithDoc("gametap.q3._hotpath.InvalidField",
                                             "An action field was refused: args (field, message).",
                                             PyExc_ValueError, NULL);
    Py_INCREF(&WorldType);
    Py_INCREF(&ObserverType);
    if (!InvalidField || PyModule_AddObject(m, "World", (PyObject *)&WorldType) ||
        PyModule_AddObject(m, "Observer", (PyObject *)&ObserverType) ||
        PyModule_AddObject(m, "InvalidField", InvalidField) ||
        PyModule_AddIntConstant(m, "FEATURE_SIZE", FEAT_SIZE)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
