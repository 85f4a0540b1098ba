# Lane-level emulation of prefill_attention.cu's prefill_attention_pipelined: the kernel's own index formulas (loads,
# swizzle, ldmatrix addresses, ring and slot-list turns, head pairs, 32-key steps) over a byte-addressed shared memory,
# ldmatrix / mma.sync m16n8k16 per the PTX ISA fragment layouts, cp.async landing at issue ("eager") or only at the
# wait ("lazy"), against float64 attention. Also counts ldmatrix bank conflicts.
import math, random, sys
from paged_layout import shuffled_block_tables, max_attention_error
from mma_m16n8k16 import mma
TILE_K=64; THREADS=128; PIPE_HEADS=2; PIPE_STAGES=2; SUB_K=32; PER_DIM=768
NEG=-math.inf
conflicts=[0]

class Smem:
    def __init__(self, nbytes): self.e=[float('nan')]*(nbytes//2)
    def write16(self, addr, vals):
        assert addr%16==0; self.e[addr//2:addr//2+8]=vals
    def row8(self, addr):
        assert addr%16==0; return self.e[addr//2:addr//2+8]

def ldmatrix_x4(sm, addr, trans):
    regs=[[None]*4 for _ in range(32)]
    for i in range(4):
        banks=set()
        for r in range(8):
            for w in range(4): banks.add(((addr[8*i+r]+4*w)//4)%32)
        if len(banks)!=32: conflicts[0]+=1
        M=[sm.row8(addr[8*i+r]) for r in range(8)]
        for l in range(32):
            if not trans: regs[l][i]=(M[l//4][2*(l%4)], M[l//4][2*(l%4)+1])
            else: regs[l][i]=(M[2*(l%4)][l//4], M[2*(l%4)+1][l//4])
    return regs


def key_slot(table, j, kvLen, blockSize):
    return table[j//blockSize]*blockSize+j%blockSize if j<kvLen else -1

def run_block(HD, q, qRowStride, out, kC, vC, blockTables, maxBlocks, tokenSeq, tokenContext, tileFirst, tileCount, heads, kvHeads, blockSize, scale, bx, by, gy, lazy):
    ROW_BYTES=HD*2; TILE_BYTES=TILE_K*ROW_BYTES; DK=HD//16; DN=HD//8; SN=SUB_K//8; CHUNKS=HD//8; ROWS=THREADS//CHUNKS
    assert (PIPE_HEADS+2*PIPE_STAGES)*TILE_BYTES==PER_DIM*HD and ROWS%8==0
    sm=Smem(PER_DIM*HD)
    pending=[]  # (addr, vals) of copies not landed (lazy)
    def cp_async16(dst, src_list, off, nbytes):
        vals=[src_list[off+e] for e in range(8)] if nbytes==16 else [0.0]*8
        if lazy: pending.append((dst,vals))
        else: sm.write16(dst,vals)
    def wait_all():
        for d,v in pending: sm.write16(d,v)
        pending.clear()
    # entry
    tile=gy-1-by
    first=tileFirst[tile]; count=tileCount[tile]
    G=heads//kvHeads; pairs=(G+PIPE_HEADS-1)//PIPE_HEADS
    g=bx//pairs; h0=g*G+(bx%pairs)*PIPE_HEADS
    pair=h0+1<(g+1)*G
    HEADS=2 if pair else 1
    table=blockTables[tokenSeq[first]*maxBlocks:]
    kvStride=kvHeads*HD
    qTiles=0; ring=qTiles+PIPE_HEADS*TILE_BYTES
    def load_rows(dst, src_list, base, stride, index):
        for t in range(THREADS):
            row0=t//CHUNKS; chunk=t%CHUNKS
            d=dst+row0*ROW_BYTES+((chunk^(row0&7))<<4)
            b=base+chunk*8
            for i in range(TILE_K//ROWS):
                r=index(row0+i*ROWS)
                cp_async16(d+i*ROWS*ROW_BYTES, src_list, b+max(r,0)*stride, 16 if r>=0 else 0)
    # per-thread rows
    warps=[]
    warpMax=[0]*4
    for warp in range(4):
        st={}
        st['r0']=[warp*16+(l>>2) for l in range(32)]; st['r1']=[r+8 for r in st['r0']]
        st['v0']=[r<count for r in st['r0']]; st['v1']=[r<count for r in st['r1']]
        st['ctx0']=[tokenContext[first+r] if v else 0 for r,v in zip(st['r0'],st['v0'])]
        st['ctx1']=[tokenContext[first+r] if v else 0 for r,v in zip(st['r1'],st['v1'])]
        st['max']=max(max(a,b) for a,b in zip(st['ctx0'],st['ctx1']))
        st['min']=min(min(a,b) for a,b in zip(st['ctx0'],st['ctx1']))
        warpMax[warp]=st['max']
        warps.append(st)
    for hq in range(HEADS):
        load_rows(qTiles+hq*TILE_BYTES, q, (h0+hq)*HD, qRowStride, lambda r: first+r if r<count else -1)
    kvLen=max(warpMax); tiles=(kvLen+TILE_K-1)//TILE_K
    slots=[[None]*TILE_K for _ in range(PIPE_STAGES)]
    for i in range(PIPE_STAGES*TILE_K): slots[i//TILE_K][i%TILE_K]=key_slot(table,i,kvLen,blockSize)
    stale=set()
    def issue(t):
        if t<tiles:
            ts=list(slots[t%PIPE_STAGES])
            assert all(x is not None for x in ts)
            kTile=ring+(t%PIPE_STAGES)*2*TILE_BYTES
            load_rows(kTile, kC, g*HD, kvStride, lambda r: ts[r])
            load_rows(kTile+TILE_BYTES, vC, g*HD, kvStride, lambda r: ts[r])
    for t in range(PIPE_STAGES-1): issue(t)
    for st in warps:
        st['o']=[[[[0.0]*4 for _ in range(32)] for _ in range(DN)] for _ in range(HEADS)]
        st['m']=[[[NEG]*32,[NEG]*32] for _ in range(HEADS)]; st['l']=[[[0.0]*32,[0.0]*32] for _ in range(HEADS)]
    scaleLog2=scale*1.4426950408889634
    lanes=range(32)
    aRow=[(l&7)+(((l>>3)&1)<<3) for l in lanes]; aHalf=[l>>4 for l in lanes]
    kRow=[(l&7)+((l>>4)<<3) for l in lanes]; kHalf=[(l>>3)&1 for l in lanes]; sw=[l&7 for l in lanes]
    for i in range(tiles):
        assert PIPE_STAGES==2
        wait_all()  # cp_async_wait<0> + barrier
        issue(i+PIPE_STAGES-1)
        nextSlot=[key_slot(table,(i+PIPE_STAGES)*TILE_K+t,kvLen,blockSize) for t in range(TILE_K)]
        kTile=ring+(i%PIPE_STAGES)*2*TILE_BYTES; vTile=kTile+TILE_BYTES
        for warp,st in enumerate(warps):
            qRows=[qTiles+(warp*16+aRow[l])*ROW_BYTES for l in lanes]
            for sub in range(TILE_K//SUB_K):
                j0=i*TILE_K+sub*SUB_K
                if j0>=st['max']: break
                kSub=kTile+sub*SUB_K*ROW_BYTES; vSub=vTile+sub*SUB_K*ROW_BYTES
                s=[[[[0.0]*4 for _ in lanes] for _ in range(SN)] for _ in range(HEADS)]
                for kk in range(DK):
                    a=[ldmatrix_x4(sm,[qRows[l]+hq*TILE_BYTES+(((2*kk+aHalf[l])^sw[l])<<4) for l in lanes],False) for hq in range(HEADS)]
                    for n in range(0,SN,2):
                        b=ldmatrix_x4(sm,[kSub+(n*8+kRow[l])*ROW_BYTES+(((2*kk+kHalf[l])^sw[l])<<4) for l in lanes],False)
                        for hq in range(HEADS):
                            mma(s[hq][n],a[hq],[b[l][0] for l in lanes],[b[l][1] for l in lanes])
                            mma(s[hq][n+1],a[hq],[b[l][2] for l in lanes],[b[l][3] for l in lanes])
                needMask=j0+SUB_K>st['min']
                for hq in range(HEADS):
                    for l in lanes:
                        quad=l&3; c0=st['ctx0'][l]; c1=st['ctx1'][l]
                        for n in range(SN):
                            j=j0+n*8+2*quad; x=s[hq][n][l]
                            x[0]=NEG if needMask and j>=c0 else x[0]*scaleLog2
                            x[1]=NEG if needMask and j+1>=c0 else x[1]*scaleLog2
                            x[2]=NEG if needMask and j>=c1 else x[2]*scaleLog2
                            x[3]=NEG if needMask and j+1>=c1 else x[3]*scaleLog2
                    # online_softmax_step
                    m0,m1=st['m'][hq]; l0,l1=st['l'][hq]; o=st['o'][hq]
                    mx0=[max(max(s[hq][n][l][0],s[hq][n][l][1]) for n in range(SN)) for l in lanes]
                    mx1=[max(max(s[hq][n][l][2],s[hq][n][l][3]) for n in range(SN)) for l in lanes]
                    for sh in (1,2):
                        mx0=[max(mx0[l],mx0[l^sh]) for l in lanes]; mx1=[max(mx1[l],mx1[l^sh]) for l in lanes]
                    for l in lanes:
                        n0=max(m0[l],mx0[l]); n1=max(m1[l],mx1[l])
                        b0=0.0 if n0==NEG else n0; b1=0.0 if n1==NEG else n1
                        c0=2**(m0[l]-b0); c1=2**(m1[l]-b1)
                        m0[l]=n0; m1[l]=n1
                        s0=s1=0.0
                        for n in range(SN):
                            x=s[hq][n][l]
                            x[0]=2**(x[0]-b0); x[1]=2**(x[1]-b0); x[2]=2**(x[2]-b1); x[3]=2**(x[3]-b1)
                            s0+=x[0]+x[1]; s1+=x[2]+x[3]
                        l0[l]=l0[l]*c0+s0; l1[l]=l1[l]*c1+s1
                        for n in range(DN):
                            y=o[n][l]; y[0]*=c0; y[1]*=c0; y[2]*=c1; y[3]*=c1
                for kk in range(SUB_K//16):
                    p=[[[(s[hq][2*kk][l][0],s[hq][2*kk][l][1]),(s[hq][2*kk][l][2],s[hq][2*kk][l][3]),(s[hq][2*kk+1][l][0],s[hq][2*kk+1][l][1]),(s[hq][2*kk+1][l][2],s[hq][2*kk+1][l][3])] for l in lanes] for hq in range(HEADS)]
                    for n in range(0,DN,2):
                        b=ldmatrix_x4(sm,[vSub+(kk*16+aRow[l])*ROW_BYTES+(((n+aHalf[l])^sw[l])<<4) for l in lanes],True)
                        for hq in range(HEADS):
                            mma(st['o'][hq][n],p[hq],[b[l][0] for l in lanes],[b[l][1] for l in lanes])
                            mma(st['o'][hq][n+1],p[hq],[b[l][2] for l in lanes],[b[l][3] for l in lanes])
        for t in range(TILE_K): slots[i%PIPE_STAGES][t]=nextSlot[t]
    rowStride=heads*HD
    for st in warps:
        for hq in range(HEADS):
            l0=st['l'][hq][0][:]; l1=st['l'][hq][1][:]
            for sh in (1,2):
                l0=[l0[l]+l0[l^sh] for l in lanes]; l1=[l1[l]+l1[l^sh] for l in lanes]
            for l in lanes:
                quad=l&3
                i0=1/l0[l] if st['v0'][l] else 0; i1=1/l1[l] if st['v1'][l] else 0
                for n in range(DN):
                    y=st['o'][hq][n][l]
                    if st['v0'][l]:
                        base=(first+st['r0'][l])*rowStride+(h0+hq)*HD+2*quad+n*8
                        out[base]=y[0]*i0; out[base+1]=y[1]*i0
                    if st['v1'][l]:
                        base=(first+st['r1'][l])*rowStride+(h0+hq)*HD+2*quad+n*8
                        out[base]=y[2]*i1; out[base+1]=y[3]*i1

def main(HD, heads, kvHeads, seqs, blockSize=16, seed=1, lazy=False):
    rnd=random.Random(seed)
    nb,tables,tl,maxBlocks=shuffled_block_tables(rnd,seqs,blockSize)
    kvSize=kvHeads*HD; qSize=heads*HD; qStride=qSize+2*kvSize
    nslots=nb*blockSize
    kC=[rnd.uniform(-1,1) for _ in range(nslots*kvSize)]; vC=[rnd.uniform(-1,1) for _ in range(nslots*kvSize)]
    tokenSeq=[];tokenContext=[];qs=[0]
    for s,(c,n) in enumerate(seqs):
        for i in range(n): tokenSeq.append(s); tokenContext.append(c+i+1)
        qs.append(len(tokenSeq))
    T=len(tokenSeq)
    q=[rnd.uniform(-2,2) for _ in range(T*qStride)]
    out=[float('nan')]*((T+64)*qSize)
    tf=[];tc=[]
    for s in range(len(seqs)):
        f=qs[s]
        while f<qs[s+1]: tf.append(f); tc.append(min(64,qs[s+1]-f)); f+=64
    scale=1/math.sqrt(HD)
    G=heads//kvHeads; gx=kvHeads*((G+1)//2)
    for by in range(len(tf)):
        for bx in range(gx):
            run_block(HD,q,qStride,out,kC,vC,tables,maxBlocks,tokenSeq,tokenContext,tf,tc,heads,kvHeads,blockSize,scale,bx,by,len(tf),lazy)
    maxerr=max_attention_error(q,qStride,out,kC,vC,tokenSeq,tokenContext,tl,heads,kvHeads,HD,blockSize,scale)
    stray=[x for x in out[T*qSize:] if x==x]
    print(f"HD={HD} heads={heads}/{kvHeads} seqs={seqs} bs={blockSize} lazy={lazy} tiles={len(tf)} max abs err={maxerr:.3g} stray={len(stray)} ldmatrix conflicts={conflicts[0]}")
    if maxerr>1e-9 or stray: raise SystemExit("FAIL")

if __name__=="__main__":
    which=sys.argv[1] if len(sys.argv)>1 else "all"
    if which in ("all","a"): main(64,6,2,[(130,65),(0,1),(0,64)],blockSize=8,seed=3)            # G=3: a pair and an odd head
    if which in ("all","b"): main(64,6,2,[(130,65),(0,1),(0,64)],blockSize=8,seed=3,lazy=True)
    if which in ("all","c"): main(128,2,1,[(0,100),(60,3)],blockSize=16,seed=2,lazy=True)     # G=2: one pair
    if which in ("all","d"): main(64,2,2,[(200,40),(0,70)],blockSize=32,seed=5)               # MHA: every block one head
    if which in ("all","e"): main(64,4,1,[(250,20)],blockSize=16,seed=7,lazy=True)            # G=4: two pairs, 5 key tiles
