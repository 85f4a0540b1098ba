# Lane-level emulation of prefill_attention.cu: ldmatrix / mma.sync m16n8k16 per the PTX ISA fragment definitions,
# the kernel's own index formulas, compared with a plain softmax attention.
import math, random
from paged_layout import shuffled_block_tables, max_attention_error
from mma_m16n8k16 import mma
TILE_K=64; PAD=8; THREADS=128
NEG=-math.inf

def ldmatrix_x4(smem, addr, trans):
    # addr[lane] = (row, col) of the 8-element row lane supplies; returns regs[lane][i] = (lo, hi)
    regs=[[None]*4 for _ in range(32)]
    for i in range(4):
        M=[[smem[addr[8*i+r][0]][addr[8*i+r][1]+c] for c in range(8)] for r in range(8)]
        for l in range(32):
            if not trans: regs[l][i]=(M[l//4][2*(l%4)], M[l//4][2*(l%4)+1])
            else: regs[l][i]=(M[2*(l%4)][l//4], M[2*(l%4)+1][l//4])
    return regs


def run_block(HD, q, qRowStride, out, kC, vC, tables, maxBlocks, tokenSeq, tokenContext, first, count, h, heads, kvHeads, blockSize, scale):
    STRIDE=HD+PAD; DK=HD//16; DN=HD//8; KN=TILE_K//8
    g_=h//(heads//kvHeads); kvStride=kvHeads*HD
    table=tables[tokenSeq[first]*maxBlocks:]
    ks=[[float('nan')]*STRIDE for _ in range(TILE_K)]; vs=[[float('nan')]*STRIDE for _ in range(TILE_K)]
    # per warp, per lane state
    W=[]
    warpMax=[0]*4
    for warp in range(4):
        st={'ctx0':[],'ctx1':[],'v0':[],'v1':[],'qf':[],'r0':[],'r1':[]}
        for lane in range(32):
            group,quad=lane>>2,lane&3
            r0=warp*16+group; r1=r0+8
            v0=r0<count; v1=r1<count
            st['r0'].append(r0); st['r1'].append(r1); st['v0'].append(v0); st['v1'].append(v1)
            st['ctx0'].append(tokenContext[first+r0] if v0 else 0); st['ctx1'].append(tokenContext[first+r1] if v1 else 0)
            qf=[]
            for kk in range(DK):
                def ld(valid,r,off):
                    if not valid: return (0.0,0.0)
                    base=(first+r)*qRowStride+h*HD+2*quad+off
                    return (q[base],q[base+1])
                qf.append([ld(v0,r0,kk*16),ld(v1,r1,kk*16),ld(v0,r0,kk*16+8),ld(v1,r1,kk*16+8)])
            st['qf'].append(qf)
        st['max']=max(max(a,b) for a,b in zip(st['ctx0'],st['ctx1']))
        st['min']=min(min(a,b) for a,b in zip(st['ctx0'],st['ctx1']))
        warpMax[warp]=st['max']
        st['o']=[[[0.0]*4 for _ in range(32)] for _ in range(DN)]
        st['m0']=[NEG]*32; st['m1']=[NEG]*32; st['l0']=[0.0]*32; st['l1']=[0.0]*32
        W.append(st)
    kvLen=max(warpMax)
    scaleLog2=scale*1.4426950408889634
    def slots_for(j0):
        return [ (table[(j0+i)//blockSize]*blockSize+(j0+i)%blockSize) if j0+i<kvLen else -1 for i in range(TILE_K)]
    def load(tile, cache, slots):
        CH=HD//8
        for i in range(TILE_K*CH//THREADS):
            for t in range(THREADS):
                c=t+i*THREADS; key=c//CH; col=(c%CH)*8
                s=slots[key]
                for e in range(8):
                    tile[key][col+e]= cache[s*kvStride+g_*HD+col+e] if s>=0 else 0.0
    slots=[slots_for(0),None]
    load(ks,kC,slots[0])
    j0=0; buf=0
    while j0<kvLen:
        load(vs,vC,slots[buf])
        slots[buf^1]=slots_for(j0+TILE_K)
        for warp in range(4):
            st=W[warp]
            active=j0<st['max']
            st['active']=active
            if not active: continue
            s=[[[0.0]*4 for _ in range(32)] for _ in range(KN)]
            for kk in range(DK):
                for n in range(0,KN,2):
                    addr=[]
                    for lane in range(32):
                        kRow=(lane&7)+((lane>>4)<<3); kCol=((lane>>3)&1)<<3
                        addr.append((n*8+kRow, kk*16+kCol))
                    b=ldmatrix_x4(ks,addr,False)
                    a=[st['qf'][l][kk] for l in range(32)]
                    mma(s[n],a,[b[l][0] for l in range(32)],[b[l][1] for l in range(32)])
                    mma(s[n+1],a,[b[l][2] for l in range(32)],[b[l][3] for l in range(32)])
            needMask=j0+TILE_K>st['min']
            for lane in range(32):
                quad=lane&3; c0=st['ctx0'][lane]; c1=st['ctx1'][lane]
                for n in range(KN):
                    j=j0+n*8+2*quad
                    x=s[n][lane]
                    x[0]=NEG if needMask and j>=c0 else x[0]*scaleLog2
                    x[1]=NEG if needMask and j+1>=c0 else x[1]*scaleLog2
                    x[2]=NEG if needMask and j>=c1 else x[2]*scaleLog2
                    x[3]=NEG if needMask and j+1>=c1 else x[3]*scaleLog2
            mx0=[max(max(s[n][l][0],s[n][l][1]) for n in range(KN)) for l in range(32)]
            mx1=[max(max(s[n][l][2],s[n][l][3]) for n in range(KN)) for l in range(32)]
            for sh in (1,2):
                mx0=[max(mx0[l],mx0[l^sh]) for l in range(32)]
                mx1=[max(mx1[l],mx1[l^sh]) for l in range(32)]
            for l in range(32):
                new0=max(st['m0'][l],mx0[l]); new1=max(st['m1'][l],mx1[l])
                b0=0.0 if new0==NEG else new0; b1=0.0 if new1==NEG else new1
                c0=2**(st['m0'][l]-b0); c1=2**(st['m1'][l]-b1)
                st['m0'][l]=new0; st['m1'][l]=new1
                s0=s1=0.0
                for n in range(KN):
                    x=s[n][l]
                    x[0]=2**(x[0]-b0); x[1]=2**(x[1]-b0); x[2]=2**(x[2]-b1); x[3]=2**(x[3]-b1)
                    s0+=x[0]+x[1]; s1+=x[2]+x[3]
                st['l0'][l]=st['l0'][l]*c0+s0; st['l1'][l]=st['l1'][l]*c1+s1
                for n in range(DN):
                    o=st['o'][n][l]; o[0]*=c0; o[1]*=c0; o[2]*=c1; o[3]*=c1
            st['s']=s
        if j0+TILE_K<kvLen: load(ks,kC,slots[buf^1])
        for warp in range(4):
            st=W[warp]
            if not st['active']: continue
            s=st['s']
            for kk in range(TILE_K//16):
                p=[[(s[2*kk][l][0],s[2*kk][l][1]),(s[2*kk][l][2],s[2*kk][l][3]),(s[2*kk+1][l][0],s[2*kk+1][l][1]),(s[2*kk+1][l][2],s[2*kk+1][l][3])] for l in range(32)]
                for n in range(0,DN,2):
                    addr=[]
                    for lane in range(32):
                        vRow=(lane&7)+(((lane>>3)&1)<<3); vCol=(lane>>4)<<3
                        addr.append((kk*16+vRow, n*8+vCol))
                    b=ldmatrix_x4(vs,addr,True)
                    mma(st['o'][n],p,[b[l][0] for l in range(32)],[b[l][1] for l in range(32)])
                    mma(st['o'][n+1],p,[b[l][2] for l in range(32)],[b[l][3] for l in range(32)])
        j0+=TILE_K; buf^=1
    for warp in range(4):
        st=W[warp]
        l0=st['l0'][:]; l1=st['l1'][:]
        for sh in (1,2):
            l0=[l0[l]+l0[l^sh] for l in range(32)]; l1=[l1[l]+l1[l^sh] for l in range(32)]
        for lane in range(32):
            quad=lane&3
            i0=1/l0[lane] if st['v0'][lane] else 0; i1=1/l1[lane] if st['v1'][lane] else 0
            rs=heads*HD
            for n in range(DN):
                o=st['o'][n][lane]
                if st['v0'][lane]:
                    base=(first+st['r0'][lane])*rs+h*HD+2*quad+n*8
                    out[base]=o[0]*i0; out[base+1]=o[1]*i0
                if st['v1'][lane]:
                    base=(first+st['r1'][lane])*rs+h*HD+2*quad+n*8
                    out[base]=o[2]*i1; out[base+1]=o[3]*i1

def main(HD, heads, kvHeads, seqs, blockSize=16, seed=1):
    rnd=random.Random(seed)
    nb,tables,tl,maxBlocks=shuffled_block_tables(rnd,seqs,blockSize)
    kvSize=kvHeads*HD; qSize=heads*HD; qStride=qSize+2*kvSize
    slots=nb*blockSize
    kC=[rnd.uniform(-1,1) for _ in range(slots*kvSize)]; vC=[rnd.uniform(-1,1) for _ in range(slots*kvSize)]
    tokenSeq=[];tokenContext=[];qs=[0]
    for s,(c,n) in enumerate(seqs):
        for i in range(n): tokenSeq.append(s); tokenContext.append(c+i+1)
        qs.append(len(tokenSeq))
    T=len(tokenSeq)
    q=[rnd.uniform(-2,2) for _ in range(T*qStride)]
    out=[float('nan')]*(T*qSize)
    tiles=[]
    for s in range(len(seqs)):
        f=qs[s]
        while f<qs[s+1]: tiles.append((f,min(64,qs[s+1]-f))); f+=64
    scale=1/math.sqrt(HD)
    for (f,cnt) in tiles:
        for h in range(heads):
            run_block(HD,q,qStride,out,kC,vC,tables,maxBlocks,tokenSeq,tokenContext,f,cnt,h,heads,kvHeads,blockSize,scale)
    maxerr=max_attention_error(q,qStride,out,kC,vC,tokenSeq,tokenContext,tl,heads,kvHeads,HD,blockSize,scale)
    print(f"HD={HD} heads={heads}/{kvHeads} seqs={seqs} tiles={len(tiles)} max abs err={maxerr:.3g}")

import sys
main(64,4,2,[(130,65),(0,1),(0,64)],blockSize=8,seed=3)
main(128,2,1,[(0,100),(60,3)],blockSize=16,seed=2)
