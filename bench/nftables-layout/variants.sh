#!/bin/bash
# Makes the *lit (literal DNAT, no shared map bound by the rule) and *anon (per-rule anonymous
# DNAT map of the rule's 10 ports) variants from the files gen.py wrote (run in the same dir).
set -e
for l in old new; do for f in full d1 d2 d3; do
  sed 's/dnat ip addr \. port to ip daddr \. meta l4proto \. th dport map @n4/dnat ip to 127.0.0.1:9000/' $f-$l.nft > $f-${l}lit.nft
done; done
python3 - <<'PY'
import re
P=10
def anon(first, tp):
    return "{ " + ", ".join(f"{first+p} : 127.0.0.1 . {tp}" for p in range(P)) + " }"
for l in ["old","new"]:
    for f in ["full","d1","d2","d3"]:
        s=open(f"{f}-{l}.nft").read()
        def rep(m):
            i=int(m.group(1)); first=20000+(i-1)*P if i<=1000 else 20000
            tp=9000 if (f=="full" or i<=1000) else 9001
            return m.group(0).replace("dnat ip addr . port to ip daddr . meta l4proto . th dport map @n4", "dnat ip addr . port to th dport map "+anon(first,tp))
        s=re.sub(r"chain r(\d+) \{[^}]*\}", rep, s, flags=re.S) if f=="full" else re.sub(r"add rule inet t r(\d+) [^\n]*dnat[^\n]*", rep, s)
        open(f"{f}-{l}anon.nft","w").write(s)
PY
