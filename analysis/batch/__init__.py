"""``maildetour batch``: many run folders analysed in local processes or on a Dask cluster, one comparison.

``runs`` finds each folder's inputs, ``execute`` analyses one run (in whatever process runs it), ``local`` and
``cluster`` run them all, ``rows`` turns reports into comparison rows, ``batch`` writes the outputs, and
``diff`` is ``maildetour compare``.
"""
