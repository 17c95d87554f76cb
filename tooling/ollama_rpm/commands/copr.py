"""`ollama-rpm copr submit`: upload an SRPM to a Copr project and wait for the build."""

import argparse
from pathlib import Path

from ollama_rpm import limits
from ollama_rpm.commands import options
from ollama_rpm.publish import copr
from ollama_rpm.specgen import backends


def register(sub: options.Subparsers) -> None:
    parser = sub.add_parser("copr", help="publish builds on Copr")
    actions = parser.add_subparsers(dest="copr_command", metavar="ACTION", parser_class=type(parser))
    actions.required = True
    submit = actions.add_parser(
        "submit", help="upload the SRPM(s) to a Copr project and wait for the builds",
        description="Make sure the Copr project and chroots exist (with NVIDIA's repository for CUDA builds), "
                    "upload the SRPM and wait for the build. Split layout: one build per source package, "
                    "ollama first, then the GPU backend packages as one batch after it. Uses the API token in "
                    "~/.config/copr (or --copr-config).")
    submit.add_argument("--project", required=True, metavar="OWNER/NAME", help="Copr project (@group/name for a group)")
    submit.add_argument("--chroot", action="append", default=[], metavar="CHROOT",
                        help="chroot to build in, repeatable (default: "
                             + ", ".join(copr.DEFAULT_CHROOTS) + ")")
    submit.add_argument("--with", dest="with_", action="append", default=[], metavar="BACKEND",
                        help="build this backend (cuda, cuda12, rocm, vulkan); `cuda` and `cuda12` also set up "
                             "NVIDIA's repository; repeatable")
    submit.add_argument("--without", action="append", default=[], metavar="BACKEND",
                        help="build without this backend; repeatable")
    submit.add_argument("--srpm", type=Path, action="append", default=[],
                        help="SRPM to upload (default: build them with the srpm step); with the split layout "
                             "repeat it, one per source package")
    options.add_layout(submit, "single: one build; split: ollama, then one build per GPU backend package")
    options.add_config(submit)
    submit.add_argument("--cuda-repo-release", type=int, metavar="NN",
                        help="use NVIDIA's CUDA repository of release NN (fedoraNN, or rhelNN for epel chroots) "
                             "whatever the chroot's release")
    submit.add_argument("--no-wait", action="store_true", help="print the build URL and return")
    submit.add_argument("--no-create", action="store_true", help="fail if the project does not exist")
    submit.add_argument("--copr-config", type=Path, metavar="FILE", help="Copr API config (default: ~/.config/copr)")
    submit.add_argument("--poll-interval", type=float, default=30.0, metavar="SECONDS",
                        help="how often to ask Copr for the build state (default: %(default)s)")
    submit.add_argument("--wait-timeout", type=float, default=0.0, metavar="SECONDS",
                        help="give up waiting after this long (default: 0, wait until the build ends)")
    submit.add_argument("--api-timeout", type=float, default=120.0, metavar="SECONDS",
                        help="longest wait for one Copr API answer (default: %(default)s)")
    submit.set_defaults(func=run_submit)


def run_submit(args: argparse.Namespace) -> int:
    for name in ("poll_interval", "api_timeout", "wait_timeout"):
        flag = f"--{name.replace('_', '-')}"
        setattr(args, name, limits.seconds(getattr(args, name), flag, allow_zero=name == "wait_timeout"))
    backends.check_cuda_release(args.cuda_repo_release)
    return copr.submit(copr.SubmitRequest(
        project=args.project, chroots=args.chroot, with_=args.with_, without=args.without, srpms=args.srpm,
        wait=not args.no_wait, create=not args.no_create, copr_config=args.copr_config,
        interval=args.poll_interval, timeout=args.wait_timeout, api_timeout=args.api_timeout,
        config_path=args.config, layout=args.layout, cuda_release=args.cuda_repo_release))
