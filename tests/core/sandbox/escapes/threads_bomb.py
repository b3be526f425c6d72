# Tries: start threads until the process table or memory runs out.
# ruff: noqa
import threading
import time

while True:
    threading.Thread(target=time.sleep, args=(60,)).start()
