#!/bin/bash
# A wrapper plugin whose helper is missing (exit 127), or, with $1 = 126, not executable.
echo "WRAPPER - running the helper"
if [ "$1" = 126 ]; then
    /dev/null
    exit
fi
/nonexistent/pacs-tui-test-helper --check
