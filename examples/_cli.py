"""Command-line pieces the example scripts share (a helper for the examples, not a script):
argument types that reject impossible counts, where a run writes, how to resume it,
and the exit path of a run that diverged or was interrupted."""
import argparse
import os
import shlex
import sys

EXIT_INTERRUPTED = 130  # what a shell reports for a process stopped by Ctrl-C (128 + SIGINT)


def parser(doc):
    """An argument parser whose --help shows the script's docstring: its first
    paragraph as the description, the rest (if any) after the options."""
    summary, _, details = doc.partition("\n\n")
    return argparse.ArgumentParser(description=summary, epilog=details or None,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def only(parser, names, choices):
    """The configurations a comma-separated --only names (all of `choices` when
    it is None), in the order given; an unknown name is a usage error."""
    chosen = list(choices) if names is None else [n.strip() for n in names.split(",")]
    unknown = [n for n in chosen if n not in choices]
    if unknown:
        parser.error(f"--only: unknown configuration(s) {unknown}; choose from {list(choices)}")
    return chosen


def add_device(parser):
    """--device: where the model, its data and the training loop run."""
    parser.add_argument("--device", default="cpu",
                        help="cpu (default), cuda or cuda:N (needs CuPy and a CUDA GPU)")


def check_device(parser, device):
    """--device cuda without CuPy or a GPU is a usage error, not a traceback mid-run."""
    import minigrad
    if device.startswith("cuda") and not minigrad.cuda.is_available():
        parser.error(f"--device {device} needs CuPy and a CUDA GPU, and none was found; "
                     "use --device cpu")


def positive_int(text):
    """argparse type: an int >= 1 (epochs, batch sizes, sample counts)."""
    return _int_at_least(text, 1, "a positive integer")


def non_negative_int(text):
    """argparse type: an int >= 0 (where 0 means "none" or "off")."""
    return _int_at_least(text, 0, "an integer >= 0")


def _int_at_least(text, low, what):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be {what}, got {value}")
    return value


def output_folder(out, name, smoke):
    """--out if given; else runs/<name>, or runs/<name>-smoke for --smoke, so a quick
    synthetic run never overwrites (or gets resumed as) a real run's files."""
    if out is not None:
        return out
    return os.path.join("runs", f"{name}-smoke" if smoke else name)


def synthetic_note(smoke):
    """What --smoke runs add to their printed results and plot titles."""
    return " [SYNTHETIC data: --smoke]" if smoke else ""


def resume_command(script, argv, out, **changed):
    """The command that resumes this run from the checkpoint in `out`: the same
    arguments, with --out spelled out, --resume added, and `changed` flags
    (e.g. lr=0.01) replacing theirs."""
    argv = list(sys.argv[1:] if argv is None else argv)
    kept, skip = [], False
    for arg in argv:
        name = arg.split("=", 1)[0]
        if skip:
            skip = False
        elif name in ("--out", "--resume") or name[2:].replace("-", "_") in changed:
            skip = "=" not in arg and name != "--resume"  # drop the value that follows
        else:
            kept.append(arg)
    for key, value in changed.items():
        kept += [f"--{key.replace('_', '-')}", str(value)]
    return shlex.join(["python", f"examples/{script}", *kept, "--out", out, "--resume"])


def stop(message, code=1):
    """Print `message` to stderr and exit with `code` (1: failed; 130: interrupted)."""
    print(message, file=sys.stderr, flush=True)
    raise SystemExit(code)


def diverged(script, error, argv, args, checkpoint, steps, lr):
    """Report a diverged run (a minigrad.training.TrainingDiverged, whose epoch and step
    are 0-based: printed 1-based, of the run's `epochs` and the epoch's `steps`) and exit
    1, with the command that resumes its last good epoch at a 10x smaller learning rate
    when the checkpoint holds one of this run (any epoch before the first: it was
    written, or resumed from, by this run)."""
    where = (f"step {error.step + 1}/{steps}: the loss is {error.loss}" if error.step is not None
             else f"evaluation after its last step: the {error.split} loss is {error.loss}")
    message = (f"{script}: training diverged in epoch {error.epoch + 1}/{args.epochs}, {where}; "
               f"the learning rate ({lr:.3g}) is probably too large: try a smaller one.")
    if error.epoch > 0 and os.path.exists(checkpoint):
        message += (f" {checkpoint} still holds epoch {error.epoch}, the last good one."
                    "\nResume the last good epoch with a smaller --lr:\n  "
                    + resume_command(script, argv, args.out, lr=f"{args.lr / 10:g}"))
    stop(message)


def interrupted(script, history, argv, args, checkpoint, title):
    """Ctrl-C: plot the completed epochs, print the command that resumes, exit 130."""
    import _plots  # (only here: the argument helpers above need no matplotlib)
    done = len(history.get("train_loss", []))
    print(f"\ninterrupted (Ctrl-C) during epoch {done + 1}/{args.epochs}; "
          + (f"{checkpoint} holds epoch {done} (the last completed one)" if done
             else "no epoch completed"))
    if done and not args.no_plots:
        path = _plots.plot_curves(history, os.path.join(args.out, "curves.png"), title)
        print(f"plot of the {done} completed epoch(s) written to {path}")
    if done and os.path.exists(checkpoint):  # an epoch of THIS run was saved
        print("resume with:\n  " + resume_command(script, argv, args.out))
    stop(f"{script}: interrupted", EXIT_INTERRUPTED)
