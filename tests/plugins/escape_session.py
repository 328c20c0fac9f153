#!/usr/bin/env python3
"""Leaves a grandchild in a session of its own (out of reach of a kill of the plugin's process
group) holding the plugin's stdout, writes the plugin's pid and the grandchild's to argv[1],
and exits 0."""

import os
import sys
import time

pid = os.fork()
if pid == 0:
    os.setsid()
    time.sleep(1000)
    os._exit(0)
with open(sys.argv[1], "w") as out:
    out.write(f"{os.getpid()} {pid}\n")
print(f"ESCAPE OK - helper {pid} left in its own session")
