#!/bin/bash
# Starts a grandchild (sleep) that holds the plugin's stdout and stderr open, and writes the
# plugin's pid and the grandchild's to $1. With $2 = "exit" the plugin then exits at once and
# leaves it behind (a badly daemonised helper); otherwise it waits for it (a hung check).
sleep 1000 &
echo "$$ $!" > "$1"
echo "HELPER OK - started helper $!"
if [ "$2" = exit ]; then
    exit 0
fi
wait
