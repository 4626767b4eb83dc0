"""The registry: decorator registration, duplicates, module:Class names, unknown names."""

import pytest

from hdfbench.registry import Registry, UnknownNameError
from hdfbench.strategies import STRATEGIES, Strategy


def test_register_and_get():
    reg = Registry("thing")

    @reg.register("a")
    class A:
        pass

    assert reg.get("a") is A and reg.names() == ["a"] and "a" in reg and A.name == "a"


def test_duplicate_names_are_rejected():
    reg = Registry("thing")
    reg.register("a")(type("A", (), {}))
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a")(type("B", (), {}))


def test_unknown_name_lists_allowed():
    with pytest.raises(UnknownNameError, match="unknown strategy 'nope'; allowed: .*erm"):
        STRATEGIES.get("nope")


def test_module_class_names_import_and_check_the_base():
    assert STRATEGIES.get("hdfbench.strategies.erm:ERM").name == "erm"
    with pytest.raises(UnknownNameError, match="not a subclass of Strategy"):
        STRATEGIES.get("hdfbench.registry:Registry")
    with pytest.raises(UnknownNameError, match="cannot import"):
        STRATEGIES.get("no_such_module:Thing")
    assert issubclass(STRATEGIES.get("erm"), Strategy)
