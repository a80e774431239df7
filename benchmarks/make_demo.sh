#!/usr/bin/env bash
# Time `make demo` on a fresh clone of a branch (issue 19): clone it into /tmp with a
# ../shared link beside it (the model), run `make demo`, print the seconds and what was built.
#   benchmarks/make_demo.sh BRANCH [REPO]      e.g. benchmarks/make_demo.sh issue19 /work/main
set -u
BR=${1:?branch}
REPO=${2:-$(git rev-parse --show-toplevel)}
SHARED=$(cd "$REPO/../shared" && pwd)
D=$(mktemp -d /tmp/mgd-fresh-XXXX)
git clone -q --branch "$BR" "$REPO" "$D/mgd"
ln -s "$SHARED" "$D/shared"
cd "$D/mgd"
echo "commit: $(git log --oneline -1)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s.%N)
env -u MGD_MODEL -u PYTHONPATH -u VIRTUAL_ENV make demo > "$D/make_demo.log" 2>&1
rc=$?
end=$(date +%s.%N)
echo "make demo: rc=$rc seconds=$(echo "$end - $start" | bc)"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -E "^(plain|mgd) *:" "$D/make_demo.log"
echo "built: $(ls -d .venv* | tr '\n' ' ') stamps: $(ls -a .venv | grep '^\.mgd' | tr '\n' ' ')"
echo "log: $D/make_demo.log"
