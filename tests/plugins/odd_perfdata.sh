#!/bin/bash
# Perfdata in every form the guidelines allow, some they do not, and more in the long text.
echo "ODD WARNING - odd perfdata | 'quoted label'=5ms;10:;~:20;0; 'it''s'=U;;;; bad=abc x=1;;;; y=-0.5KB;@1:2;;0;100"
echo "a long text line"
echo "another one | 'in long'=2c"
echo "time=1.5s;1;2 pct=99.5%;90;95;0;100"
exit 1
