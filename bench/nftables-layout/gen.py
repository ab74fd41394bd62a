import sys
layout=sys.argv[1]; R=1000; P=10
def chain(i):
    return f"""chain r{i} {{
 tcp flags & (fin|syn|rst|ack) != syn reject with tcp reset
 ct mark set {i}
 limit rate over 1000000/second burst 1000000 packets ct mark @c_rate reject with tcp reset
 meta l4proto tcp ct mark @c_ok dnat ip addr . port to ip daddr . meta l4proto . th dport map @n4 comment "portplane bench/r{i}"
}}"""
out=["table inet t {"]
v = "verdict" if layout=="old" else "mark"
out.append(f" map l4 {{ type ipv4_addr . inet_proto . inet_service : {v}; }}")
out.append(" map n4 { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }")
out.append(" set c_ok { type mark; counter; }\n set c_rate { type mark; counter; }")
if layout=="new": out.append(" map rules { type mark : verdict; }")
for i in range(1,R+1): out.append(chain(i))
if layout=="old": out.append(" chain lookup {\n ip daddr . meta l4proto . th dport vmap @l4\n }")
else: out.append(" chain lookup {\n ct mark set ip daddr . meta l4proto . th dport map @l4 ct mark vmap @rules\n }")
out.append(" chain output { type nat hook output priority -100; policy accept;\n jump lookup\n }")
out.append("}")
els=[];nels=[];rels=[]
for i in range(1,R+1):
    for p in range(P):
        port=20000+(i-1)*P+p
        els.append(f"127.0.0.1 . tcp . {port} : " + (f"goto r{i}" if layout=="old" else f"{i}"))
        nels.append(f"127.0.0.1 . tcp . {port} : 127.0.0.1 . 9000")
    rels.append(f"{i} : goto r{i}")
out.append("add element inet t c_ok { %s }" % ", ".join(str(i) for i in range(1,R+1)))
out.append("add element inet t c_rate { %s }" % ", ".join(str(i) for i in range(1,R+1)))
out.append("add element inet t l4 { %s }" % ", ".join(els))
out.append("add element inet t n4 { %s }" % ", ".join(nels))
if layout=="new": out.append("add element inet t rules { %s }" % ", ".join(rels))
open(f"full-{layout}.nft","w").write("\n".join(out)+"\n")
# deltas: move rule 1's ports between chain r1 and r5000/r5001 alternately
def delta(frm,to):
    d=[f"add element inet t c_ok {{ {to} }}", f"add element inet t c_rate {{ {to} }}", "add chain inet t r%d" % to]
    d += ["add rule inet t r%d %s" % (to, l.strip()) for l in chain(to).splitlines()[1:-1]]
    if layout=="new": d.append(f"add element inet t rules {{ {to} : goto r{to} }}")
    ks=[f"127.0.0.1 . tcp . {20000+p}" for p in range(P)]
    d.append("delete element inet t l4 { %s }" % ", ".join(ks))
    d.append("delete element inet t n4 { %s }" % ", ".join(ks))
    d.append("add element inet t l4 { %s }" % ", ".join(k+" : "+(f"goto r{to}" if layout=="old" else str(to)) for k in ks))
    d.append("add element inet t n4 { %s }" % ", ".join(k+" : 127.0.0.1 . 9001" for k in ks))
    if layout=="new": d.append(f"delete element inet t rules {{ {frm} }}")
    d += [f"flush chain inet t r{frm}", f"delete chain inet t r{frm}", f"delete element inet t c_ok {{ {frm} }}", f"delete element inet t c_rate {{ {frm} }}"]
    return "\n".join(d)+"\n"
open(f"d1-{layout}.nft","w").write(delta(1,5000))
open(f"d2-{layout}.nft","w").write(delta(5000,5001))
open(f"d3-{layout}.nft","w").write(delta(5001,5000))
