#!/bin/bash
# Writes its result to stdout and a debug line to stderr.
echo "CHECK WARNING - see stderr | errors=3c"
echo "debug: on stderr only" >&2
exit 1
