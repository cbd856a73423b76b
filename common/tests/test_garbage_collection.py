import gc
import weakref

import pytest

from common.garbage_collection import cyclic_gc_paused


@pytest.fixture(autouse=True)
def collector_enabled():
    was = gc.isenabled()
    gc.enable()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def test_the_collector_is_off_inside_and_on_again_after():
    with cyclic_gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_collector_is_on_again_after_an_exception():
    with pytest.raises(ZeroDivisionError), cyclic_gc_paused():
        1 / 0
    assert gc.isenabled()


def test_a_nested_pause_leaves_the_collector_off_until_the_outer_one_ends():
    with cyclic_gc_paused():
        with cyclic_gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_off_before_stays_off():
    gc.disable()
    with cyclic_gc_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_a_cycle_made_inside_is_collected_after():
    class Node:
        pass

    with cyclic_gc_paused():
        node = Node()
        node.self = node
        alive = weakref.ref(node)
        del node
        assert alive() is not None  # in a cycle: reference counting cannot free it
    gc.collect()
    assert alive() is None


def test_as_a_decorator_it_pauses_the_collector_for_each_call():
    @cyclic_gc_paused()
    def enabled_inside() -> bool:
        return gc.isenabled()

    assert enabled_inside() is False
    assert gc.isenabled()
    assert enabled_inside() is False  # a fresh pause each call
    assert gc.isenabled()
