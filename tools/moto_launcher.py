#!/usr/bin/env python3
"""berth's moto launcher: starts moto's server with the settings berth's emulator mode needs.

Used by `cargo xtask --local` (a long-lived background server) and by the test harness (one
server per test binary, ended when the harness's end of stdin closes: --exit-with-parent).
Arguments other than --exit-with-parent go to moto_server (-H host, -p port).
"""
import os
import sys
import threading


def exit_when_stdin_closes():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


def main():
    args = sys.argv[1:]
    if "--exit-with-parent" in args:
        args.remove("--exit-with-parent")
        threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    # AWS-managed IAM policy ARNs (ECS task execution role policy, ...) must resolve.
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    from moto.server import main as moto_server

    moto_server(args)


if __name__ == "__main__":
    main()
