"""A training campaign in one command: ``pixrescue train --plan FILE --minutes M``.

The plan (JSON) lists models, each with its training options (the fields of
``TrainConfig`` and of its recipe's config, as ``pixrescue train`` takes them) and a share of the time::

    {"data": ["../shared/data/train"],          # default for every model
     "margin_db": 0.01,                           # improvement needed to replace the shipped weights
     "models": [
       {"model": "qgunet.jpeg-blind", "share": 1,
        "options": {"max_side": 360, "patch": 96, "batch": 16, "lr": 5e-4},
        "cuda": {"batch": 64}}                    # overrides where the steps run on a GPU
     ]}

Each model in turn, in its share of the minutes (what earlier ones leave over
passes on to the later ones):

1. its run folder (``runs/campaign/MODEL``) is resumed from its checkpoint, or
   the first time started from the shipped weights (``--init``);
2. the shipped weights are judged on the recipe's held-out pictures (the
   recipe's own ``validate``: mean PSNR of the output, ``psnr_output``), which
   also measures what a validation costs;
3. the run trains for the rest of its share: its ``steps`` from the plan, or
   as many as the measured speed fits in the time, under a cosine that starts
   at the session's first step and ends with the time (a warm restart per
   session, with Adam's state kept);
4. the candidate is judged on the same pictures, and replaces the shipped
   weights (weights, then its card beside them, each written to a temporary
   file and renamed over the old one) only when it is better by more than the
   margin; otherwise it stays in the run folder, and the log and its card say why.

Paths in the plan are relative to the working directory, as on the command line.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import cards, zoo
from ..atomic import write_atomically
from . import recipes
from .train import TrainConfig, _log, option_names, train

MARGIN_DB = 0.01
JUDGE = "psnr_output"
# The options the campaign sets itself: a plan may set the others of TrainConfig and of the model's recipe.
CAMPAIGN_SETS = {"model", "lr_cycle_start"}
# Shorter shares are skipped: loading, judging and measuring would leave no time to train.
MIN_SECONDS = 20.0


class PlanError(ValueError):
    pass


@dataclass
class Entry:
    model: str
    share: float
    options: dict = field(default_factory=dict)
    cuda: dict = field(default_factory=dict)

    def config(self, device: str) -> TrainConfig:
        options = {"lr_schedule": "cosine", **self.options, **(self.cuda if device == "cuda" else {})}
        if "betas" in options:
            options["betas"] = tuple(options["betas"])
        return TrainConfig.from_options(self.model, **options)


@dataclass
class Plan:
    entries: list[Entry]
    margin: float = MARGIN_DB
    path: Path | None = None


def load_plan(path: Path) -> Plan:
    """Read and check a plan before any time is spent: known models with a PSNR
    judge, known options, training folders that exist, positive shares."""
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise PlanError(f"{path}: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("models"), list) or not raw["models"]:
        raise PlanError(f"{path}: a plan is an object with a non-empty list \"models\"")
    data = raw.get("data", [])
    entries = []
    for item in raw["models"]:
        if not isinstance(item, dict) or "model" not in item:
            raise PlanError(f"{path}: each entry of \"models\" names its \"model\"")
        name = item["model"]
        try:
            spec = zoo.get_spec(name)
        except zoo.UnknownModelError as exc:
            raise PlanError(f"{path}: {exc}") from None
        if spec.trainer.startswith("embed-"):
            raise PlanError(f"{path}: {name} has no PSNR to be judged on (an embedding); train it with "
                            "pixrescue train")
        unknown = set(item) - {"model", "share", "options", "cuda"}
        options, cuda = dict(item.get("options", {})), dict(item.get("cuda", {}))
        known = option_names(name) - CAMPAIGN_SETS
        unknown |= {f"options.{k}" for k in set(options) - known} | {f"cuda.{k}" for k in set(cuda) - known}
        if unknown:
            raise PlanError(f"{path}: {name}: unknown {', '.join(sorted(unknown))} (options: "
                            f"{', '.join(sorted(known))})")
        options.setdefault("data", list(data))
        if not options["data"]:
            raise PlanError(f"{path}: {name}: no training data (\"data\" in the plan or in its options)")
        missing = [folder for folder in options["data"] if not Path(folder).is_dir()]
        if missing:
            raise PlanError(f"{path}: {name}: no such folder: {', '.join(missing)}")
        share = item.get("share", 1)
        if not isinstance(share, (int, float)) or share <= 0:
            raise PlanError(f"{path}: {name}: its share must be a positive number")
        entries.append(Entry(name, float(share), options, cuda))
    return Plan(entries, float(raw.get("margin_db", MARGIN_DB)), Path(path))


def judge(recipe, model: torch.nn.Module) -> dict:
    """The recipe's validation of ``model`` on its held-out pictures (CPU, fp32)."""
    return recipe.validate(model.cpu().float())


def shipped_model(name: str, weights_dir: Path) -> torch.nn.Module | None:
    path = zoo.weights_path(name, weights_dir)
    if not path.exists():
        return None
    from safetensors.torch import load_file

    model = zoo.get_spec(name).build()
    try:
        model.load_state_dict(load_file(str(path)))
    except Exception as exc:  # damaged, or weights of another layout: nothing to defend
        _log(f"{name}: the shipped {path} does not load ({str(exc).splitlines()[0]}); any candidate replaces it")
        return None
    return model


def _replace(name: str, run_dir: Path, weights_dir: Path, card: dict) -> None:
    """The candidate's weights and card over the shipped ones, each atomically.
    The benchmark figures of the shipped card (``metrics``) described the old
    weights: they are kept under another name until the benchmarks are run again."""
    weights, card_file = zoo.weights_path(name, weights_dir), cards.card_path(name, weights_dir)
    try:
        old = cards.read(card_file, missing={}).get("metrics")
    except ValueError:
        old = None
    if old:
        card = {**card, "metrics": {}, "metrics_of_the_replaced_weights": old}
    with open(zoo.weights_path(name, run_dir), "rb") as candidate:
        write_atomically(weights, lambda stream: shutil.copyfileobj(candidate, stream))
    cards.write(card_file, card)


def _checkpoint_step(run_dir: Path) -> int | None:
    checkpoint = run_dir / "checkpoint.pt"
    if not checkpoint.exists():
        return None
    return int(torch.load(checkpoint, weights_only=True, map_location="cpu")["step"])


def run_campaign(plan: Plan, minutes: float, weights_dir: Path = zoo.WEIGHTS_DIR,
                 runs_root: Path = Path("runs/campaign"), device: str = "cpu", precision: str = "auto",
                 threads: int | None = None, workers: int | None = None, command: str | None = None) -> list[dict]:
    """Run ``plan`` for ``minutes`` (see the module's description); returns one
    outcome per model, also appended to ``runs_root/campaign.jsonl``."""
    end = time.time() + minutes * 60
    outcomes = []
    for index, entry in enumerate(plan.entries):
        now = time.time()
        later = sum(e.share for e in plan.entries[index:])
        seconds = (end - now) * entry.share / later
        name, run_dir = entry.model, runs_root / entry.model
        if seconds < MIN_SECONDS:
            _log(f"{name}: skipped, {seconds:.0f} s left for it")
            outcomes.append({"model": name, "skipped": f"{seconds:.0f} s left"})
            continue
        deadline = now + seconds
        config = entry.config(device)
        done = _checkpoint_step(run_dir)
        session_steps = config.steps
        config.steps = (done or 0) + session_steps if session_steps else None
        config.lr_cycle_start = done or 0
        init = zoo.weights_path(name, weights_dir) if done is None else None
        init = init if init is not None and init.exists() else None
        _log(f"campaign: {name}, {seconds / 60:.1f} min, " + (f"resuming {run_dir} at step {done}" if done is not None
                                                              else f"a new run in {run_dir} from {init or 'scratch'}"))

        _log(f"loading images from {', '.join(config.data)}")
        recipe = recipes.build(config)
        began = time.perf_counter()
        shipped = shipped_model(name, weights_dir)
        before = judge(recipe, shipped) if shipped is not None else None
        validation_seconds = time.perf_counter() - began
        if before is not None:
            _log(f"{name}: the shipped weights: {JUDGE} {before[JUDGE]:.4f} on {before.get('images')} held-out "
                 f"pictures ({validation_seconds:.1f} s)")
        fit = not session_steps
        card = train(config, out_dir=run_dir, run_dir=run_dir, init=init, command=command, device=device,
                     precision=precision, threads=threads, workers=workers, channels_last=None, recipe=recipe,
                     deadline=deadline - 2 - (0 if fit else validation_seconds), fit_to_time=fit,
                     validation_seconds=validation_seconds,
                     note={"campaign": str(plan.path) if plan.path else None, "share_seconds": round(seconds)})

        after = card["validation"][JUDGE]
        gain = None if before is None else after - before[JUDGE]
        replace = gain is None or gain > plan.margin
        if gain is None:
            reason = f"no shipped weights to compare with in {weights_dir}"
        else:
            reason = (f"{JUDGE} {after:.4f} against the shipped {before[JUDGE]:.4f}: {gain:+.4f} dB, "
                      f"{'more' if replace else 'not more'} than the margin of {plan.margin} dB")
        card["judge"] = {"metric": JUDGE, "candidate": after, "shipped": None if before is None else before[JUDGE],
                         "margin_db": plan.margin, "replaced_shipped": replace, "reason": reason,
                         "at_step": card["training"]["steps_done"], "time": time.strftime("%Y-%m-%d %H:%M:%S")}
        cards.write(cards.card_path(name, run_dir), card)
        if replace:
            _replace(name, run_dir, weights_dir, card)
            _log(f"{name}: replaced {zoo.weights_path(name, weights_dir)} and its card: {reason} (its "
                 "benchmark figures are for the old weights: run the benchmarks with --update-cards)")
        else:
            _log(f"{name}: kept the shipped weights; the candidate stays in {run_dir}: {reason}")
        outcome = {"model": name, "from_step": done or 0, "to_step": card["training"]["steps_done"],
                   "replaced": replace, "reason": reason, "candidate": after,
                   "shipped": None if before is None else before[JUDGE], "time": card["judge"]["time"]}
        outcomes.append(outcome)
        runs_root.mkdir(parents=True, exist_ok=True)
        with open(runs_root / "campaign.jsonl", "a") as log:
            log.write(json.dumps(outcome) + "\n")
    return outcomes
