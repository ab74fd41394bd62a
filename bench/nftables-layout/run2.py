import subprocess,time,os,statistics,re
import sys
for layout in sys.argv[1:]:
    ns=f"pp18x{os.getpid()}"
    subprocess.run(["ip","netns","add",ns],check=True)
    try:
        ex=["ip","netns","exec",ns]
        subprocess.run(ex+["nft","-f",f"full-{layout}.nft"],check=True)
        subprocess.run(ex+["nft","-f",f"d1-{layout}.nft"],check=True)
        ks=[]
        for i in range(30):
            f=f"d{2+i%2}-{layout}.nft"
            r=subprocess.run(ex+["strace","-T","-e","trace=sendmsg","nft","-f",f],capture_output=True,text=True,check=True)
            ts=[float(x) for x in re.findall(r"<([0-9.]+)>",r.stderr)]
            ks.append(max(ts)*1000)
        print(layout,"batch sendmsg median %.2f ms min %.2f"%(statistics.median(ks),min(ks)),flush=True)
    finally:
        subprocess.run(["ip","netns","del",ns])
