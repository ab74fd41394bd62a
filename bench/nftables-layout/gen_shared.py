# Layout idea for round 7: ONE chain shared by every rule of the same statement shape; the per-rule parts are
# data: rate limit as a named limit object via an objref map keyed by the ct mark, DNAT target via a map keyed
# by (mark . port). A one-rule change then adds no chain and no verdict element (nothing for the kernel's
# table validation to walk). Same 1,000 rules x 10 ports as gen.py; deltas move rule 1's ports to id 5000/5001.
R=1000; P=10
def lim(i): return f"limit l{i} {{ rate over 1000000/second burst 1000000 packets }}"
out=["table inet t {"]
out.append(" map l4 { type ipv4_addr . inet_proto . inet_service : mark; }")
out.append(" map n4 { type mark . inet_service : ipv4_addr . inet_service; }")
out.append(" set c_ok { type mark; counter; }\n set c_rate { type mark; counter; }")
for i in range(1,R+1): out.append(" "+lim(i))
out.append(" map lim { type mark : limit; }")
out.append(""" chain shared {
 tcp flags & (fin|syn|rst|ack) != syn reject with tcp reset
 limit name ct mark map @lim ct mark @c_rate reject with tcp reset
 meta l4proto tcp ct mark @c_ok dnat ip addr . port to ct mark . th dport map @n4
 }""")
out.append(" chain lookup {\n ct mark set ip daddr . meta l4proto . th dport map @l4 goto shared\n }")
out.append(" chain output { type nat hook output priority -100; policy accept;\n jump lookup\n }")
out.append("}")
els=[];nels=[]
for i in range(1,R+1):
    for p in range(P):
        port=20000+(i-1)*P+p
        els.append(f"127.0.0.1 . tcp . {port} : {i}")
        nels.append(f"{i} . {port} : 127.0.0.1 . 9000")
out.append("add element inet t c_ok { %s }" % ", ".join(str(i) for i in range(1,R+1)))
out.append("add element inet t c_rate { %s }" % ", ".join(str(i) for i in range(1,R+1)))
out.append("add element inet t lim { %s }" % ", ".join(f'{i} : "l{i}"' for i in range(1,R+1)))
out.append("add element inet t l4 { %s }" % ", ".join(els))
out.append("add element inet t n4 { %s }" % ", ".join(nels))
open("full-shared.nft","w").write("\n".join(out)+"\n")
def delta(frm,to):
    d=[f"add element inet t c_ok {{ {to} }}", f"add element inet t c_rate {{ {to} }}", "add "+lim(to).replace("limit l","limit inet t l",1), f'add element inet t lim {{ {to} : "l{to}" }}']
    ks=[f"127.0.0.1 . tcp . {20000+p}" for p in range(P)]
    d.append("add element inet t n4 { %s }" % ", ".join(f"{to} . {20000+p} : 127.0.0.1 . 9001" for p in range(P)))
    d.append("delete element inet t l4 { %s }" % ", ".join(ks))
    d.append("add element inet t l4 { %s }" % ", ".join(k+f" : {to}" for k in ks))
    d.append("delete element inet t n4 { %s }" % ", ".join(f"{frm} . {20000+p}" for p in range(P)))
    d += [f"delete element inet t lim {{ {frm} }}", f"delete limit inet t l{frm}", f"delete element inet t c_ok {{ {frm} }}", f"delete element inet t c_rate {{ {frm} }}"]
    return "\n".join(d)+"\n"
open("d1-shared.nft","w").write(delta(1,5000))
open("d2-shared.nft","w").write(delta(5000,5001))
open("d3-shared.nft","w").write(delta(5001,5000))
