package engine

// GRUForward applies one GRU step as Backend documents, one thread per unit, adding bhh into hg
// in the same kernel. h may be the same tensor as hPrev.
func (c *CUDA) GRUForward(xg, hg, bhh, hPrev, h Tensor, B, H int) {
	const op = "GRUForward"
	gateLen, stateLen := checkGRU(op, B, H)
	xt := c.tensor(op, "xg", xg, gateLen)
	ht := c.tensor(op, "hg", hg, gateLen)
	bt := c.optionalTensor(op, "bhh", bhh, 3*H)
	pt := c.tensor(op, "hPrev", hPrev, stateLen)
	outT := c.tensor(op, "h", h, stateLen)
	c.lock()
	defer c.mu.Unlock()
	// gru_gates_forward(float *xg, float *hg, const float *bhh, const float *h_prev, float *h,
	//     int B, int H)
	c.launch(op, kernelGRUForward, unitLaunch(B, H),
		c.args.Reset().Ptr(xt.ptr).Ptr(ht.ptr).Ptr(ptrOrNull(bt)).Ptr(pt.ptr).Ptr(outT.ptr).
			Int(B).Int(H))
}

// GRUBackward reverses GRUForward as Backend documents; dhRec may be nil. dxg may be the same
// tensor as xg, and dhg as hg.
func (c *CUDA) GRUBackward(xg, hg, hPrev, dhOut, dhRec, dxg, dhg, dhPrev Tensor, B, H int) {
	const op = "GRUBackward"
	gateLen, stateLen := checkGRU(op, B, H)
	xt := c.tensor(op, "xg", xg, gateLen)
	ht := c.tensor(op, "hg", hg, gateLen)
	pt := c.tensor(op, "hPrev", hPrev, stateLen)
	ot := c.tensor(op, "dhOut", dhOut, stateLen)
	rt := c.optionalTensor(op, "dhRec", dhRec, stateLen)
	dxt := c.tensor(op, "dxg", dxg, gateLen)
	dht := c.tensor(op, "dhg", dhg, gateLen)
	dpt := c.tensor(op, "dhPrev", dhPrev, stateLen)
	c.lock()
	defer c.mu.Unlock()
	// gru_gates_backward(const float *xg, const float *hg, const float *h_prev,
	//     const float *dh_out, const float *dh_rec, float *dxg, float *dhg, float *dh_prev,
	//     int B, int H)
	c.launch(op, kernelGRUBackward, unitLaunch(B, H),
		c.args.Reset().Ptr(xt.ptr).Ptr(ht.ptr).Ptr(pt.ptr).Ptr(ot.ptr).Ptr(ptrOrNull(rt)).
			Ptr(dxt.ptr).Ptr(dht.ptr).Ptr(dpt.ptr).Int(B).Int(H))
}
