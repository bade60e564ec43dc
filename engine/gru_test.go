package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func TestGRUForward(t *testing.T) {
	cpu := newTestCPU(t, 3, "gonum")
	rng := rand.New(rand.NewPCG(3, 1))
	for _, shape := range lstmShapes {
		B, H := shape[0], shape[1]
		xgIn := randomValues(rng, B*3*H, -3, 3)
		hgIn := randomValues(rng, B*3*H, -3, 3)
		hPrev := randomValues(rng, B*H, -1, 1)
		xg, hg := newView(cpu, xgIn), newView(cpu, hgIn)
		h := newView(cpu, make([]float32, B*H))
		cpu.GRUForward(xg, hg, nil, newView(cpu, hPrev), h, B, H)

		wantAct, wantH := make([]float64, B*3*H), make([]float64, B*H)
		for b := range B {
			for j := range H {
				g, u := b*3*H+j, b*H+j
				r := sigmoid64(float64(xgIn[g]) + float64(hgIn[g]))
				z := sigmoid64(float64(xgIn[g+H]) + float64(hgIn[g+H]))
				n := math.Tanh(float64(xgIn[g+2*H]) + r*float64(hgIn[g+2*H]))
				wantAct[g], wantAct[g+H], wantAct[g+2*H] = r, z, n
				wantH[u] = (1-z)*n + z*float64(hPrev[u])
			}
		}
		name := fmt.Sprintf("B=%d H=%d", B, H)
		checkClose(t, name+" xg", Float32s(xg), wantAct, elementAtol, elementRtol)
		checkClose(t, name+" hg", Float32s(hg), float64s(hgIn), 0, 0)
		checkClose(t, name+" h", Float32s(h), wantH, elementAtol, elementRtol)
		for _, v := range []Tensor{xg, hg, h} {
			checkGuards(t, name, v)
		}
	}
}

func TestGRUBackward(t *testing.T) {
	cpu := newTestCPU(t, 3, "gonum")
	rng := rand.New(rand.NewPCG(3, 2))
	for _, shape := range lstmShapes {
		B, H := shape[0], shape[1]
		// Activated gates: σ values of r and z in (0, 1) and tanh values of n in (-1, 1).
		act := randomValues(rng, B*3*H, 0, 1)
		for b := range B {
			copy(act[b*3*H+2*H:b*3*H+3*H], randomValues(rng, H, -1, 1))
		}
		hgIn := randomValues(rng, B*3*H, -2, 2)
		hPrev := randomValues(rng, B*H, -1, 1)
		dhOut, dhRec := randomValues(rng, B*H, -1, 1), randomValues(rng, B*H, -1, 1)

		for _, recurrent := range []bool{false, true} {
			dxg, dhg := newView(cpu, make([]float32, B*3*H)), newView(cpu, make([]float32, B*3*H))
			dhPrev := newView(cpu, make([]float32, B*H))
			var rec Tensor
			if recurrent {
				rec = newView(cpu, dhRec)
			}
			cpu.GRUBackward(newView(cpu, act), newView(cpu, hgIn), newView(cpu, hPrev),
				newView(cpu, dhOut), rec, dxg, dhg, dhPrev, B, H)

			wantDxg, wantDhg := make([]float64, B*3*H), make([]float64, B*3*H)
			wantDhPrev := make([]float64, B*H)
			for b := range B {
				for j := range H {
					g, u := b*3*H+j, b*H+j
					r, z, n := float64(act[g]), float64(act[g+H]), float64(act[g+2*H])
					dh := float64(dhOut[u])
					if recurrent {
						dh += float64(dhRec[u])
					}
					dnPre := dh * (1 - z) * (1 - n*n)
					dzPre := dh * (float64(hPrev[u]) - n) * z * (1 - z)
					drPre := dnPre * float64(hgIn[g+2*H]) * r * (1 - r)
					wantDxg[g], wantDxg[g+H], wantDxg[g+2*H] = drPre, dzPre, dnPre
					wantDhg[g], wantDhg[g+H], wantDhg[g+2*H] = drPre, dzPre, dnPre*r
					wantDhPrev[u] = dh * z
				}
			}
			name := fmt.Sprintf("B=%d H=%d dhRec=%v", B, H, recurrent)
			checkClose(t, name+" dxg", Float32s(dxg), wantDxg, elementAtol, elementRtol)
			checkClose(t, name+" dhg", Float32s(dhg), wantDhg, elementAtol, elementRtol)
			checkClose(t, name+" dhPrev", Float32s(dhPrev), wantDhPrev, elementAtol, elementRtol)
			for _, v := range []Tensor{dxg, dhg, dhPrev} {
				checkGuards(t, name, v)
			}
		}
	}
}
