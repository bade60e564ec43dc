package enginetest

// TF32 contains the tolerances for a backend whose matrix products round their inputs to
// TF32, as the CUDA backend's "tf32" precision does, and that computes everything else in
// float32. TF32 keeps 10 of float32's 23 stored fraction bits, so rounding an input errs by
// up to u = 2⁻¹¹ ≈ 4.9e-4 relative. The products of the rounded inputs and their sums are
// float32.
//
// NOTE: these bounds are estimates from the error model below, not yet measured on a GPU; the
// suite logs the share of each tolerance that a run used.
var TF32 = Tolerances{
	Elementwise: DefaultFloat32.Elementwise,
	Activation:  DefaultFloat32.Activation,
	// Each product aᵢbᵢ errs by up to 2u relative, so a dot product of length k errs by about
	// u·√(2/3)·√Σ(aᵢbᵢ)² for random inputs. For k = 96 on [−1, 1] that is 1.3e-3, 2.6e-3 with
	// the suite's |alpha| = 2, and Atol is about 8 times that, so that none of some 10⁵
	// compared elements fails by chance. Rtol covers a GPU that truncates to TF32 instead
	// of rounding: a bias of up to 2·2⁻¹⁰ relative.
	GEMM:      Tolerance{Atol: 2e-2, Rtol: 4e-3},
	Reduction: DefaultFloat32.Reduction,
	Optimizer: DefaultFloat32.Optimizer,
	// The model's products are short (k ≤ 28) on values below 1, so each errs by a few u,
	// and errors pass through 3 layers and 6 steps, where σ and tanh damp them. Logits of
	// order 1 then err by up to about 10u ≈ 5e-3.
	Model: Tolerance{Atol: 5e-3, Rtol: 1e-2},
}

// BF16 contains the tolerances for a backend whose matrix products round their inputs to
// bfloat16, as the CUDA backend's "bf16" precision does, and that computes everything else
// in float32. bfloat16 keeps 7 stored fraction bits, so rounding an input errs by up to
// u = 2⁻⁸ ≈ 3.9e-3 relative, 8 times TF32's; the bounds are TF32's scaled by 8 or more.
//
// NOTE: these bounds are estimates, not yet measured on a GPU.
var BF16 = Tolerances{
	Elementwise: DefaultFloat32.Elementwise,
	Activation:  DefaultFloat32.Activation,
	// The dot-product error of TF32's GEMM bound, 2.1e-2 for k = 96 and |alpha| = 2, times
	// 7, and a truncation bias of up to 2·2⁻⁷ relative.
	GEMM:      Tolerance{Atol: 0.15, Rtol: 3e-2},
	Reduction: DefaultFloat32.Reduction,
	Optimizer: DefaultFloat32.Optimizer,
	Model:     Tolerance{Atol: 4e-2, Rtol: 8e-2},
}
