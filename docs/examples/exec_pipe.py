"""os/exec: Output(), a StdoutPipe read line by line, and CommandContext's kill.

    out, err := exec.Command("prog", args...).Output()
    cmd := exec.CommandContext(ctx, "prog"); stdout, _ := cmd.StdoutPipe(); cmd.Start()
    scanner := bufio.NewScanner(stdout); for scanner.Scan() { ... }; cmd.Wait()

`trio.run_process` is both: awaited, it runs to the end (`capture_stdout=True` is
Output()); started with `nursery.start`, it returns the running process at once, with
pipes, and the nursery waits for it. Cancelling either kills the child (SIGTERM, then
SIGKILL after 5 s by default), as cancelling CommandContext's context does. `start`
takes no keyword arguments: bind them with functools.partial. Guide: "os/exec".
"""

import signal
import subprocess
import sys
from functools import partial

import trio
from line_reader import LineReader

PRINT_THREE = "import time\nfor i in range(3): print('line', i, flush=True); time.sleep(0.01)"


async def main() -> None:
    # Output(): run to the end, collect stdout; a non-zero exit raises (check=True).
    done = await trio.run_process([sys.executable, "-c", "print('hello')"], capture_stdout=True)
    assert done.stdout == b"hello\n"
    try:
        await trio.run_process([sys.executable, "-c", "raise SystemExit(3)"])
    except subprocess.CalledProcessError as exc:
        assert exc.returncode == 3  # Go: err.(*exec.ExitError).ExitCode()
    else:
        raise AssertionError("no CalledProcessError")

    # StdoutPipe + Scanner: read the lines while the child runs.
    lines: list[str] = []
    async with trio.open_nursery() as nursery:
        process: trio.Process = await nursery.start(
            partial(trio.run_process, [sys.executable, "-c", PRINT_THREE], stdout=subprocess.PIPE)
        )
        assert process.stdout is not None
        async for line in LineReader(process.stdout):
            lines.append(line)
    assert lines == ["line 0", "line 1", "line 2"]
    assert process.returncode == 0  # the nursery waited for it: cmd.Wait()

    # CommandContext: cancelling the scope kills the child; nothing is left running.
    with trio.move_on_after(0.3):
        async with trio.open_nursery() as nursery:
            process = await nursery.start(
                partial(trio.run_process, [sys.executable, "-c", "import time; time.sleep(60)"])
            )
    assert process.returncode == -signal.SIGTERM


if __name__ == "__main__":
    trio.run(main)
