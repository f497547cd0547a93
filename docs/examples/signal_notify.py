"""signal.Notify: a signal receiver that lives exactly as long as its block.

    c := make(chan os.Signal, 1)
    signal.Notify(c, syscall.SIGHUP, syscall.SIGUSR1)
    for s := range c { ... }                       // signal.Stop(c) to undo

`trio.open_signal_receiver(...)` installs handlers on entry and restores the previous ones
on exit (signal.Stop), so nothing leaks past the block. Like a Go channel that is full, it
coalesces: the same signal arriving twice before it is read is reported once. Main thread
only (a Python rule). For "Ctrl-C or SIGTERM cancels the program", the project uses
`gopl_trio._cancel.wait_for_interrupt` with `cancel_when`. Guide: "os/signal".
"""

import os
import signal

import trio


async def main() -> None:
    before = signal.getsignal(signal.SIGUSR1)
    received: list[int] = []
    with trio.open_signal_receiver(signal.SIGUSR1, signal.SIGUSR2) as signals:
        os.kill(os.getpid(), signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGUSR1)  # coalesced with the first
        os.kill(os.getpid(), signal.SIGUSR2)
        async for signum in signals:
            received.append(signum)
            if signum == signal.SIGUSR2:
                break
    assert received == [signal.SIGUSR1, signal.SIGUSR2]
    assert signal.getsignal(signal.SIGUSR1) == before  # signal.Stop: handler restored


if __name__ == "__main__":
    trio.run(main)
