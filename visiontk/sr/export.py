"""Exporting a training run's weights as a shipped model: the weights file plus its model card."""
from __future__ import annotations

import csv
import hashlib
import re
import shutil
import tempfile
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from visiontk import training
from visiontk.compat import current_command, renamed_value
from visiontk.errors import BadInputError
from visiontk.atomic import atomic_output, check_output
from visiontk.sr.training import BEST, build_model, stored_config


def run_summary(run_dir: Path, step: int | None = None) -> dict:
    """What a run did: its settings, steps and training time, and the validation PSNR of the weights
    exported: those of `step`, or (None) the best-validated ones."""
    config = stored_config(Path(run_dir))
    if config is None:
        raise BadInputError(f"{run_dir}: not an `sr train` run (no {training.CONFIG})")
    metrics = Path(run_dir) / training.METRICS
    rows = list(csv.DictReader(metrics.open(newline=""))) if metrics.is_file() else []
    validated = [r for r in rows if r.get("val_psnr")]
    last = rows[-1] if rows else {"step": "0", "seconds": "0"}
    if step is None and config.gan:  # as the run chose its best weights
        validated = [r for r in rows if r.get("val_perceptual")]
        chosen = min(validated, key=lambda r: float(r["val_perceptual"])) if validated else last
    elif step is None:
        chosen = max(validated, key=lambda r: float(r["val_psnr"])) if validated else last
    else:
        chosen = next((r for r in rows if int(r["step"]) == step), {"step": step, "seconds": last["seconds"]})
    return {"config": asdict(config), "steps_total": int(last["step"]), "seconds_total": float(last["seconds"]),
            "step": int(chosen["step"]), "seconds": float(chosen["seconds"]),
            "val_psnr": float(chosen["val_psnr"]) if chosen.get("val_psnr") else None,
            "val_perceptual": float(chosen["val_perceptual"]) if chosen.get("val_perceptual") else None,
            "learning_rates": learning_rate_history(rows)}


def learning_rate_history(rows: list[dict]) -> str:
    """The learning rates a run used, as "0.0001 for steps 1-7000, 5e-05 for steps 7001-9000" (runs can
    be rescheduled on resume, so the stored settings alone don't tell)."""
    segments: list[list] = []  # [rate, first step, last step]
    for row in rows:
        rate, step = float(row["learning_rate"]), int(row["step"])
        if segments and segments[-1][0] == rate:
            segments[-1][2] = step
        else:
            segments.append([rate, segments[-1][2] + 1 if segments else 1, step])
    return ", ".join(f"{rate:g} for steps {first}-{last}" for rate, first, last in segments)


def export(run_dir: str | Path, output: str | Path, overwrite: bool = False, *, which: str = "best",
           eval_dir: str | Path | None = None) -> dict:
    """Write a run's `best` (by validation PSNR) or `latest` (last checkpoint's) weights to `output` and the
    model card beside it (`edsr-x2.weights.h5` -> `edsr-x2.md`), with Set5-style scores measured on
    `eval_dir`."""
    from visiontk.sr.networks import weights_scale
    from visiontk.sr.evaluate import METRICS, evaluate

    run_dir, output = Path(run_dir), Path(output)
    if which not in ("best", "latest"):
        raise BadInputError(f"`which` {which}: use best or latest")
    if not output.name.endswith(".weights.h5"):
        raise BadInputError(f"{output}: the weights file name must end in .weights.h5")
    check_output(output, overwrite)
    with tempfile.TemporaryDirectory(prefix="visiontk-export-") as scratch:
        if which == "best":
            source, summary = run_dir / BEST, run_summary(run_dir)
            if not source.is_file():
                raise BadInputError(f"{source}: not found (has the run reached its first validation?)")
        else:
            source = Path(scratch) / "latest.weights.h5"
            summary = run_summary(run_dir, _checkpoint_weights(run_dir, source))
        scale = weights_scale(source)
        # a GAN is judged by the perceptual distance too: PSNR penalises the texture it adds
        metrics = METRICS if summary["config"].get("gan") else ("psnr", "ssim")
        scores = evaluate(eval_dir, scale, model=source, metrics=metrics) if eval_dir else None
        if scores and summary["config"].get("degradation") == "real":
            from visiontk.sr.degrade import TEST_DEGRADATIONS

            scores["degraded"] = {name: evaluate(eval_dir, scale, model=source, degradation=name)
                                  for name in TEST_DEGRADATIONS}
        with atomic_output(output, overwrite) as tmp:
            shutil.copyfile(source, tmp)
    card = output.with_name(output.name[:-len(".weights.h5")] + ".md")
    sha256 = hashlib.sha256(output.read_bytes()).hexdigest()
    size = output.stat().st_size
    text = model_card(output.name, scale, summary, scores, eval_dir, sha256, size)
    with atomic_output(card, overwrite=True) as tmp:
        tmp.write_text(text)
    return {"output": str(output), "card": str(card), "scale": scale, "step": summary["step"],
            "sha256": sha256, "size": size,
            # its entry in _SHIPPED_WEIGHTS of visiontk/sr/catalog.py (the description is the shipper's)
            "catalog_line": f'("{card.stem}", "DESCRIPTION (see its model card)", "{sha256}", {size}),',
            "psnr": scores["mean"]["psnr"] if scores else None, "ssim": scores["mean"]["ssim"] if scores else None}


def _checkpoint_weights(run_dir: Path, path: Path) -> int:
    """Write the model of the run's last checkpoint to `path`; returns the checkpoint's step."""
    from visiontk.runtime import tensorflow

    tensorflow()
    model = build_model(stored_config(run_dir))
    step = training.Checkpoints(run_dir, model=model).restore()
    if step == 0:
        raise BadInputError(f"{run_dir}: no checkpoint to export yet")
    training.save_weights(model, path)
    return step


def model_card(filename: str, scale: int, summary: dict, scores: dict | None, eval_dir, sha256: str,
               size: int) -> str:
    """The model card (Markdown) of exported weights: the network, how it was trained, the exact command,
    and its scores on `eval_dir` (clean and, for a real-photo run, degraded inputs)."""
    config = summary["config"]
    hours = summary["seconds"] / 3600
    real = config.get("degradation") == "real"
    title, network = _network_description(config)
    lines = [
        f"# {title} x{scale}{' for real-world photos' if real else ''} (`{filename}`)",
        "",
        f"{network}, trained by `visiontk sr train` on this project's CPU.",
        "",
        "## Training",
        f"- Data: {', '.join(config['data'])} (BSDS500 train+test, 400 photos, 481x321), "
        f"{config['val_images']} held out for validation"
        f"{' (their LR degraded once, with fixed seeds)' if real else ''}; {_how_lr_was_made(config)}.",
        f"- {config['batch_size']} random {config['patch']}x{config['patch']} LR patches per step, flips and 90-degree "
        f"rotations, {'the losses above' if config.get('gan') else 'L1 loss'}, Adam, "
        f"learning rate {summary['learning_rates'] or config['learning_rate']}, "
        f"precision {renamed_value('precision', config.get('precision', 'float32'))}, seed {config['seed']}.",
        f"- Warm start: {config['init_from'] or 'none (random init)'}.",
        f"- Command: `{_training_command(config, summary)}`",
        f"- These weights: step {summary['step']} (of {summary['steps_total']} run so far), "
        f"{hours:.2f} h of training on 2 shared CPU cores; validation PSNR (Y) "
        f"{summary['val_psnr'] if summary['val_psnr'] is None else format(summary['val_psnr'], '.2f')} dB"
        + (f", validation perceptual distance {summary['val_perceptual']:.4f}." if summary.get("val_perceptual")
           else "."),
        f"- Exported {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC with "
        f"`visiontk sr export RUN -o models/{filename} --eval-dir ../shared/data/sr/Set5`.",
        "",
        "## Evaluation",
    ]
    if scores:
        lines += [f"Standard protocol (`visiontk sr eval {eval_dir} --scale {scale}`): Y channel BT.601, "
                  f"{scale}-pixel border removed, LR by PIL bicubic.", "", *_score_table(scores)]
        for name, result in (scores.get("degraded") or {}).items():
            lines += ["", f"On \"real\" inputs (`visiontk sr eval {eval_dir} --scale {scale} --degrade {name}`): "
                      "the bicubic LR degraded as named, scored against the clean HR.", "", *_score_table(result)]
    else:
        lines.append("Not evaluated at export.")
    lines += ["", "## File", f"- sha256 `{sha256}`, {size} bytes.", ""]
    return "\n".join(lines)


def _training_command(config: dict, summary: dict) -> str:
    """Runs store the sys.argv of their first start; shown as the `visiontk ...` command a user would type,
    with the steps reached and the schedule as resumed since: run straight, it trains the same way."""
    command = current_command("visiontk " + config["command"].split(" ", 1)[-1])
    for option, value in (("--steps", summary["steps_total"]), ("--halve-every", config["halve_every"]),
                          ("--learning-rate", f"{config['learning_rate']:g}")):
        command = re.sub(rf"{option} \S+", f"{option} {value}", command)
    return command


def _how_lr_was_made(config: dict) -> str:
    if config.get("degradation") != "real":
        return "LR by PIL bicubic downscaling"
    from visiontk.sr.degrade import Degradation

    params = asdict(Degradation.from_dict(config.get("degradation_params") or {}))
    return ("LR made from each HR patch by a random real-world degradation (`--degradation real`, "
            "`visiontk.sr.degrade.Degradation`, seeded per sample): "
            + "; ".join(f"{k} {v}" for k, v in params.items()))


def _network_description(config: dict) -> tuple[str, str]:
    """(title, one sentence) of the run's network."""
    if config.get("gan"):
        return (f"SRGAN-style {config.get('arch', 'edsr').upper()}",
                f"The generator of `{config['init_from']}` fine-tuned as a GAN (`--gan`, visiontk.sr.gan): "
                f"{_content_description(config)}, {config['gan_loss']} adversarial loss x "
                f"{config['adversarial_weight']:g}, L1 x {config['pixel_weight']:g}, against an SRGAN "
                f"discriminator ({config['discriminator_features']} first features)")
    if config.get("arch", "edsr") == "wdsr":
        return ("WDSR-B", f"WDSR-B (Yu et al. 2018) with {config['blocks']} wide-activation blocks x "
                          f"{config['features']} features, expanded {config['expansion']}x before each ReLU, "
                          "weight-normalised")
    return ("EDSR-baseline", f"EDSR (Lim et al. 2017) with {config['blocks']} residual blocks x {config['features']} "
                             f"features, residual scaling {config['res_scaling'] or 'none'}")


def _content_description(config: dict) -> str:
    if config.get("content_loss", "srgan") == "unit":
        from visiontk.sr.gan import UNIT_CONTENT_LAYERS

        return f"LPIPS-style unit-feature content loss at VGG16 {', '.join(UNIT_CONTENT_LAYERS)}"
    return f"VGG16 {config['content_layer']} content loss"


def _score_table(result: dict) -> list[str]:
    """An `evaluate` result as a Markdown table: each image and the mean, model against bicubic."""
    perceptual = "perceptual" in result["mean"]   # lower is better (visiontk.sr.metrics.PerceptualDistance)
    extra = " model perceptual | bicubic perceptual |" if perceptual else ""
    lines = [f"| image | model PSNR | model SSIM | bicubic PSNR | bicubic SSIM |{extra}",
             "|---|---|---|---|---|" + "---|---|" * perceptual]
    for row in result["images"] + [{"image": "**mean**", **result["mean"]}]:
        lines.append(f"| {row['image']} | {row['psnr']:.2f} | {row['ssim']:.4f} | {row['bicubic_psnr']:.2f} "
                     f"| {row['bicubic_ssim']:.4f} |"
                     + (f" {row['perceptual']:.4f} | {row['bicubic_perceptual']:.4f} |" if perceptual else ""))
    return lines
