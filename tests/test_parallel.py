"""The shared task runner of the benchmark harness and the demo."""

from functools import partial

import pytest
import torch

from modecover.parallel import Task, TaskFailed, run_tasks


def count(n, report):
    for done in range(1, n + 1):
        report(done)
    return {"n": n, "threads": torch.get_num_threads()}


def fail(report):
    raise RuntimeError("failed on purpose")


@pytest.mark.parametrize("workers", [1, 2])
def test_results_in_task_order_with_progress_and_one_thread(workers):
    progress, done = [], []
    tasks = [Task(name, partial(count, n)) for name, n in (("b", 3), ("a", 2))]
    threads = torch.get_num_threads()
    results = run_tasks(tasks, workers, on_progress=lambda name, k: progress.append((name, k)),
                        on_done=lambda name, result: done.append(name))
    assert list(results) == ["b", "a"] and results["b"] == {"n": 3, "threads": 1}
    assert sorted(progress) == [("a", 1), ("a", 2), ("b", 1), ("b", 2), ("b", 3)] and sorted(done) == ["a", "b"]
    assert torch.get_num_threads() == threads


def test_a_failing_task_is_named():
    with pytest.raises(TaskFailed, match=r"task 'bad' failed: RuntimeError: failed on purpose"):
        run_tasks([Task("ok", partial(count, 1)), Task("bad", fail)], 2)
    with pytest.raises(RuntimeError, match="on purpose"):
        run_tasks([Task("bad", fail)], 1)
    with pytest.raises(ValueError, match="unique"):
        run_tasks([Task("x", fail), Task("x", fail)], 1)
