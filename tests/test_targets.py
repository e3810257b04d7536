"""Config targets: only the project's classes and modules the user trusts are built.

A run folder's ``config.yaml`` is shared data; a foreign ``_target_`` anywhere in it is
refused in one line by every command that reads it, before anything is called. Trust comes
from the command line (``trusted_targets=[...]``) or ``MUSEGAN_TRUSTED_TARGETS``, never from
a saved config. The commands are driven in-process, through their ``main`` and ``sys.argv``.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from pianoroll.cli import Interrupted, command
from pianoroll.errors import UserError
from pianoroll.sources import Source
from pianoroll.targets import TRUST_ENV, check_targets, instantiate, trusting

#: Appended to every refusal: where trust can be given.
HOW_TO_TRUST = (
    ": a config may name classes of pianoroll, gan, musegan, crnngan and what a module you"
    " trust holds (trusted_targets=[<module>] on the command line, or MUSEGAN_TRUSTED_TARGETS)"
)


def refusal(key: str, target: str, note: str = "") -> str:
    return f"{key}: refused {target}{f' ({note})' if note else ''}{HOW_TO_TRUST}"


def opener(path: Path) -> dict:
    """A node that creates (or truncates) ``path`` when Hydra builds it."""
    return {"_target_": "builtins.open", "file": str(path), "mode": "w"}


def write_module(folder: Path, name: str, text: str, monkeypatch) -> None:
    """A module ``name`` in ``folder``, importable for the rest of the test."""
    (folder / f"{name}.py").write_text(text)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, name, raising=False)


@pytest.fixture
def hydra_in_process(monkeypatch, capsys):
    """Let a Hydra main run in this process under ``capsys``.

    Hydra configures logging, closing every handler; absl's (TensorFlow's) closes its stream
    unless that is the current ``sys.stderr``, and its stream is pytest's own capture.
    """
    absl_logging = pytest.importorskip("absl.logging")
    monkeypatch.setattr(absl_logging.get_absl_handler().python_handler, "stream", sys.stderr)


def run_command(module: str, args: list[str], monkeypatch, capsys) -> tuple[int, list[str]]:
    """Run ``python -m <module> <args>`` in-process (see :func:`hydra_in_process`): its exit
    status and stderr lines."""
    import importlib

    main = importlib.import_module(module).main
    monkeypatch.setattr(sys, "argv", [module, *args])
    try:
        main()
        status = 0
    except SystemExit as stop:
        status = stop.code
    return status, capsys.readouterr().err.splitlines()


# ---------------------------------------------------------------------------- the checks


def test_prefixes_match_on_module_boundaries(monkeypatch):
    monkeypatch.delenv(TRUST_ENV, raising=False)
    check_targets({"_target_": "gan.objectives.WassersteinGP"})
    with pytest.raises(UserError) as info:
        check_targets({"_target_": "gandalf.Wizard"})
    assert str(info.value) == refusal("_target_", "gandalf.Wizard")
    with trusting(["mylab.nets"]):
        # Not importable here: Hydra reports that when building ("cannot be built").
        check_targets({"a": {"_target_": "mylab.nets.Net"}, "b": {"_target_": "mylab.nets.sub.X"}})
        for outside in ("mylab.netsy.Net", "mylab.Other", "mylab"):
            with pytest.raises(UserError, match=rf"^x\._target_: refused {outside}: "):
                check_targets({"_target_": outside}, "x")
    with trusting("mylab."):  # one string, with a trailing dot, is the same prefix
        check_targets({"_target_": "mylab.nets.Net"})
        with pytest.raises(UserError):
            check_targets({"_target_": "mylabs.Net"})
    with pytest.raises(UserError):  # trust ends with the block
        check_targets({"_target_": "mylab.nets.Net"})


def test_a_foreign_target_in_a_list_or_an_interpolation_is_refused_before_anything_is_built(
    tmp_path,
):
    cfg = OmegaConf.create(
        {
            "opener": "builtins.open",
            "model": {
                "_target_": "gan.objectives.WassersteinGP",
                "layers": [{"_target_": "gan.objectives.NonSaturating"}, opener(tmp_path / "x")],
            },
            "late": {"_target_": "${opener}", "file": str(tmp_path / "y"), "mode": "w"},
        }
    )
    with pytest.raises(UserError) as info:
        instantiate(cfg.model, "model")
    assert str(info.value) == refusal("model.layers[1]._target_", "builtins.open")
    with pytest.raises(UserError) as info:
        instantiate(cfg.late, "late")
    assert str(info.value) == refusal("late._target_", "builtins.open")
    with pytest.raises(UserError, match=r"^model\.layers\[1\]\._target_: refused builtins"):
        check_targets(cfg)  # a whole config: keys from its root
    with pytest.raises(UserError) as info:  # keyword arguments Hydra merges into the node
        instantiate(cfg.model.layers[0], "x", extra=OmegaConf.create([opener(tmp_path / "z")]))
    assert str(info.value) == refusal("x.extra[0]._target_", "builtins.open")
    assert list(tmp_path.iterdir()) == []


def test_a_path_out_of_the_package_and_the_projects_functions_are_refused():
    # pianoroll.prepare imports os: the path starts like a project class but is os.system.
    with pytest.raises(UserError) as info:
        check_targets({"_target_": "pianoroll.prepare.os.system", "command": "true"})
    assert str(info.value) == refusal(
        "_target_", "pianoroll.prepare.os.system", f"defined in {os.system.__module__}"
    )
    # A project function could write any file: configs name classes.
    with pytest.raises(UserError) as info:
        check_targets({"_target_": "pianoroll.io.write_json", "path": "x", "data": {}})
    assert str(info.value) == refusal("_target_", "pianoroll.io.write_json", "not a class")


def test_project_classes_that_are_not_buildable_kinds_are_refused(tmp_path):
    """A run tracker or a checkpointer acts on files when built: a shared config nested in a
    model must not name them, though they are the project's own classes."""
    for target in (
        "gan.tracking.RunTracker",
        "gan.checkpoint.Checkpointer",
        "pianoroll.dataset.Dataset",
    ):
        node = {
            "model": {
                "_target_": "musegan.model.MuseGAN",
                "x": {"_target_": target, "run_dir": str(tmp_path)},
            }
        }
        with pytest.raises(UserError) as info:
            check_targets(node)
        assert str(info.value) == refusal(
            "model.x._target_", target, "not a model, objective, data source or generator config"
        )
    assert not list(tmp_path.iterdir())
    for target in (
        "musegan.model.MuseGAN",
        "crnngan.model.CRNNGAN",
        "crnngan.generator.RecurrentGenerator",
        "gan.objectives.NonSaturating",
        "pianoroll.sources.MidiDirectory",
    ):
        check_targets({"_target_": target})


def test_trust_from_the_environment_and_bad_prefixes(monkeypatch, tmp_path):
    write_module(tmp_path, "envlab", "def make():\n    return 'made'\n", monkeypatch)
    monkeypatch.setenv(TRUST_ENV, " otherlab , envlab,")
    # A module you trust may offer functions too.
    assert instantiate({"_target_": "envlab.make"}, "thing") == "made"
    monkeypatch.setenv(TRUST_ENV, "envlab;rm")
    with pytest.raises(UserError, match=rf"^{TRUST_ENV}: 'envlab;rm' is not a module name"):
        check_targets({"_target_": "gan.objectives.WassersteinGP"})
    with (
        pytest.raises(UserError, match=r"^trusted_targets: '\*' is not a module name"),
        trusting(["*"]),
    ):
        pass


def test_a_trusted_class_of_the_wrong_kind_is_refused_before_it_is_called(monkeypatch, tmp_path):
    marker = tmp_path / "called"
    write_module(
        tmp_path,
        "kindlab",
        f"class Marker:\n    def __init__(self):\n        open({str(marker)!r}, 'w').close()\n",
        monkeypatch,
    )
    with trusting(["kindlab"]), pytest.raises(UserError) as info:
        instantiate({"_target_": "kindlab.Marker"}, "data.source", Source)
    assert str(info.value) == "data.source: Marker is not a pianoroll.sources.Source"
    assert not marker.exists()


def test_trusted_subclasses_build_through_the_trainer_and_the_data_config(monkeypatch, tmp_path):
    from gan.builder import build_objective
    from gan.objectives import WassersteinGP
    from pianoroll.prepare import make_source
    from pianoroll.sources import MidiDirectory

    write_module(
        tmp_path,
        "buildlab",
        "from gan.objectives import WassersteinGP\nfrom pianoroll.sources import MidiDirectory\n"
        "class GP(WassersteinGP):\n    pass\nclass Songs(MidiDirectory):\n    pass\n",
        monkeypatch,
    )
    train = OmegaConf.create({"objective": {"_target_": "buildlab.GP"}})
    data = OmegaConf.create({"source": {"_target_": "buildlab.Songs", "path": str(tmp_path)}})
    with pytest.raises(UserError, match=r"^train\.objective\._target_: refused buildlab\.GP: "):
        build_objective(train)
    with pytest.raises(UserError, match=r"^data\.source\._target_: refused buildlab\.Songs: "):
        make_source(data)
    with trusting(["buildlab"]):
        assert isinstance(build_objective(train), WassersteinGP)
        assert isinstance(make_source(data), MidiDirectory)


# ------------------------------------------------------------------------ the decorator


@pytest.mark.usefixtures("hydra_in_process")
def test_the_command_decorator_registers_trust_and_exits_in_one_line(monkeypatch, capsys):
    seen = {}

    @command("pkg://conf", "prepare")
    def main(cfg):
        seen["key left in the config"] = "trusted_targets" in cfg
        check_targets({"_target_": "cmdlab.nets.Net"})  # trusted: no error
        raise seen.pop("raise")

    monkeypatch.setattr(sys, "argv", ["prepare", "trusted_targets=[cmdlab.nets]"])
    cases = [
        (UserError("data.x: bad"), 2, "error: data.x: bad"),
        (Interrupted(signal.SIGTERM, "stopped at step 3"), 143, "stopped at step 3"),
        (KeyboardInterrupt(), 130, "interrupted"),
    ]
    for error, status, line in cases:
        seen["raise"] = error
        with pytest.raises(SystemExit) as info:
            main()
        assert (info.value.code, capsys.readouterr().err.splitlines()) == (status, [line])
    assert seen == {"key left in the config": False}
    with pytest.raises(UserError):  # the command's trust ended with it
        check_targets({"_target_": "cmdlab.nets.Net"})
    monkeypatch.setattr(sys, "argv", ["prepare", "nonsense=1"])
    with pytest.raises(SystemExit) as info:
        main()
    (line,) = capsys.readouterr().err.splitlines()
    assert info.value.code == 2 and line.startswith("error: Could not override 'nonsense'")


# ------------------------------------------------------------------ run folders, end to end

#: Where a foreign target goes in a saved config: (what is replaced or added, refused key).
PLACES = {
    "model, nested": ("model.evil", "model.evil._target_"),
    "model, top level": ("model", "model._target_"),
    "objective, nested": ("train.objective.evil", "train.objective.evil._target_"),
    "objective, top level": ("train.objective", "train.objective._target_"),
    "data source, nested": ("data.source.evil", "data.source.evil._target_"),
    "data source, top level": ("data.source", "data.source._target_"),
}

#: The commands that read a run folder, and their arguments for the run ``{run}``.
COMMANDS = {
    "resume": ("musegan.train", ["resume={run}"]),
    "generate": ("musegan.generate", ["run={run}", "n=1", "out={out}"]),
    "evaluate": ("musegan.evaluate", ["run={run}", "n=4", "out={out}"]),
    "export": ("musegan.export", ["run={run}", "out={out}"]),
}


def poisoned_copy(run: Path, folder: Path, edit) -> Path:
    """A copy of ``run`` in ``folder`` whose ``config.yaml`` went through ``edit(dict)``."""
    shutil.copytree(run, folder)
    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    edit(cfg)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    return folder


def put(cfg: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for name in parents:
        cfg = cfg[name]
    cfg[last] = value


@pytest.mark.usefixtures("hydra_in_process")
@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize("place", PLACES)
def test_a_foreign_target_in_a_run_folder_is_refused_in_one_line(
    trained_runs, tmp_path, monkeypatch, capsys, name, place
):
    monkeypatch.delenv(TRUST_ENV, raising=False)
    where, key = PLACES[place]
    sentinel = tmp_path / "created"
    run = poisoned_copy(
        trained_runs["hybrid"], tmp_path / "run", lambda cfg: put(cfg, where, opener(sentinel))
    )
    module, args = COMMANDS[name]
    out = tmp_path / "out"
    status, lines = run_command(
        module, [a.format(run=run, out=out) for a in args], monkeypatch, capsys
    )
    assert (status, lines) == (2, [f"error: {refusal(key, 'builtins.open')}"])
    assert not sentinel.exists()
    assert not out.exists()


@pytest.mark.usefixtures("hydra_in_process")
def test_trust_comes_from_the_command_line_or_the_environment_never_the_run_folder(
    trained_runs, tmp_path, monkeypatch, capsys
):
    monkeypatch.delenv(TRUST_ENV, raising=False)
    write_module(
        tmp_path,
        "runlab",
        "from pianoroll.sources import BachChorales\nclass Chorales(BachChorales):\n    pass\n",
        monkeypatch,
    )

    def own_source(cfg: dict) -> None:
        cfg["data"]["source"]["_target_"] = "runlab.Chorales"
        cfg["trusted_targets"] = ["runlab"]  # as if the run's author trusted it

    run = poisoned_copy(trained_runs["hybrid"], tmp_path / "run", own_source)

    def generate(out: str, *more: str) -> tuple[int, list[str]]:
        args = [f"run={run}", "n=1", f"out={tmp_path / out}", *more]
        return run_command("musegan.generate", args, monkeypatch, capsys)

    refused = (2, [f"error: {refusal('data.source._target_', 'runlab.Chorales')}"])
    assert generate("saved-only") == refused
    status, _ = generate("command-line", "trusted_targets=[runlab]")
    assert status == 0 and (tmp_path / "command-line" / "sample-000.mid").exists()
    monkeypatch.setenv(TRUST_ENV, "runlab")
    status, _ = generate("environment")
    assert status == 0 and (tmp_path / "environment" / "sample-000.mid").exists()
