"""``error_line``: the one line that names an error, for tracebacks (Ray) and multi-line messages (MLflow)."""

from hdfbench.errortext import error_line


def test_a_traceback_is_named_by_its_last_line_and_a_message_by_its_first():
    traceback = 'Traceback (most recent call last):\n  File "x.py", line 3, in f\n    g()\nValueError: bad lr\n'
    assert error_line(traceback) == "ValueError: bad lr"
    ray_task = 'ray::_check_node() (pid=88, ip=127.0.0.1)\n  File "/w/cluster.py", line 9, in f\n    import x\n'
    assert error_line(ray_task + "ModuleNotFoundError: No module named 'hdfbench'") == (
        "ModuleNotFoundError: No module named 'hdfbench'"
    )
    assert error_line(RuntimeError("(sqlite3.OperationalError) locked\n[SQL: INSERT ...]\n(Background ...)")) == (
        "(sqlite3.OperationalError) locked"
    )
    assert error_line("ray::f() (pid=8)\nModuleNotFoundError: No module named 'hdfbench'").startswith("ModuleNotFound")
    assert error_line("ValueError: one line") == "ValueError: one line"
    assert error_line("") == "unknown error" and error_line(None, "x") == "x"
