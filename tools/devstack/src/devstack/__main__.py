"""`make run`: start the whole local stack, print its URLs, stop everything on Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from devstack.stack import LocalStack, StackConfig


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="devstack", description=__doc__)
    parser.add_argument(
        "--state-dir", type=Path, default=Path(".devstack"), help="logs, CA files, local secrets"
    )
    parser.add_argument("--free-ports", action="store_true", help="pick free ports instead of the defaults")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = StackConfig.with_free_ports(args.state_dir) if args.free_ports else StackConfig(args.state_dir)
    stack = LocalStack(config, say=lambda line: print(line, flush=True))
    stopping = threading.Event()

    def request_stop(signum: int, _: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        print("starting the local stack …", flush=True)
        stack.start()
        print(f"ready: all services healthy; logs in {config.state_dir / 'logs'}; Ctrl-C stops", flush=True)
        while not stopping.wait(0.5):
            dead = [c.name for c in stack.children if not c.alive()]
            if dead:
                print(f"stopping: {', '.join(dead)} exited; see its log", file=sys.stderr, flush=True)
                return_code = 1
                break
        else:
            return_code = 0
    except (RuntimeError, TimeoutError) as error:
        print(f"start-up failed: {error}", file=sys.stderr, flush=True)
        return_code = 1
    finally:
        print("stopping …", flush=True)
        stack.stop()
        print("stopped", flush=True)
    return return_code


if __name__ == "__main__":
    sys.exit(main())
