# Mutation check of prefill_pipelined_emu.py: each edit below breaks one index formula or ordering of the emulated
# kernel (swizzle, slot-list turn, ring index, prefetch distance, ldmatrix rows, key-tile bounds, head pairs, the barrier
# before a refill). Run 14 (written with the kernel, not yet tightened): 6 of 9 caught. Not caught: walking key tiles
# 32 keys past a warp's last (equivalent: masked work), the head-pair origin (the emulated shapes' pairs hide it) and a
# refill issued before the barrier (the emulator's copy timings do not model a still-reading warp).
#   python3 tools/cuda-check/emu/prefill_pipelined_mutations.py
import subprocess
src=open(__import__('os').path.join(__import__('os').path.dirname(__file__),'prefill_pipelined_emu.py')).read()
muts=[("d=dst+row0*ROW_BYTES+((chunk^(row0&7))<<4)","d=dst+row0*ROW_BYTES+(chunk<<4)"),
("for t in range(TILE_K): slots[i%PIPE_STAGES][t]=nextSlot[t]","for t in range(TILE_K): slots[(i+1)%PIPE_STAGES][t]=nextSlot[t]"),
("kTile=ring+(t%PIPE_STAGES)*2*TILE_BYTES","kTile=ring+((t+1)%PIPE_STAGES)*2*TILE_BYTES"),
("(i+PIPE_STAGES)*TILE_K+t,kvLen","(i+1)*TILE_K+t,kvLen"),
("kRow=[(l&7)+((l>>4)<<3) for l in lanes]","kRow=[(l&7)+(((l>>3)&1)<<3) for l in lanes]"),
("if j0>=st['max']: break","if j0>=st['max']+32: break"),
("needMask=j0+SUB_K>st['min']","needMask=j0+SUB_K>st['min']+32"),
("g=bx//pairs; h0=g*G+(bx%pairs)*PIPE_HEADS","g=bx//pairs; h0=g*G+(bx%pairs)"),
("wait_all()  # cp_async_wait<0> + barrier\n        issue(i+PIPE_STAGES-1)","issue(i+PIPE_STAGES-1)\n        wait_all()"),
]
for a,b in muts:
    assert a in src, a
    open('/tmp/prefill_pipelined_mutant.py','w').write(src.replace(a,b))
    here=__import__('os').path.dirname(__import__('os').path.abspath(__file__))
    env=dict(__import__('os').environ, PYTHONPATH=here)
    r=subprocess.run(['python3','/tmp/prefill_pipelined_mutant.py','b'],capture_output=True,text=True,env=env)
    r2=subprocess.run(['python3','/tmp/prefill_pipelined_mutant.py','c'],capture_output=True,text=True,env=env) if r.returncode==0 else r
    print("caught" if (r.returncode!=0 or r2.returncode!=0) else "MISSED", "|", b[:70].replace("\n"," "), "|", (r.stdout+r.stderr).strip().splitlines()[-1][:100] if (r.stdout+r.stderr).strip() else "")
