//go:build cgo

package cuda

import (
	"errors"
	"testing"
	"unsafe"
)

// uninitializedDriver skips the test unless libcuda.so.1 is loaded but cuInit has failed,
// as on a machine with the driver library and no GPU. There every wrapper fails in its first
// driver call, cuCtxSetCurrent, with CUDA_ERROR_NOT_INITIALIZED, after cgo has checked the
// Go pointers passed to it. On a machine with a GPU, the fake handles below would reach the
// driver, so the test does not run there.
func uninitializedDriver(t *testing.T) {
	t.Helper()
	if _, err := Load(); err == nil {
		t.Skip("skipping: the driver is initialized, and the fake handles would reach it")
	}
	if msg, ok := loadDriver(DriverLibrary); !ok {
		t.Skipf("skipping: no %s: %s", DriverLibrary, msg)
	}
}

// wantNotInitialized checks that err is cuCtxSetCurrent's CUDA_ERROR_NOT_INITIALIZED.
func wantNotInitialized(t *testing.T, call string, err error) {
	t.Helper()
	var cerr *Error
	if !errors.As(err, &cerr) || cerr.Call != "cuCtxSetCurrent" || cerr.Code != 3 {
		t.Errorf("%s: %v, want cuCtxSetCurrent's CUDA_ERROR_NOT_INITIALIZED", call, err)
	}
}

// TestCgoPointerChecks calls the wrappers with Go memory where they take some: Args inside a
// struct that also contains Go pointers, as the backend keeps them, and slices. A violation
// of cgo's pointer rules would panic here instead of returning the driver's error.
func TestCgoPointerChecks(t *testing.T) {
	uninitializedDriver(t)
	ctx := &Context{}
	fake := func() unsafe.Pointer { return unsafe.Pointer(new(int64)) }
	stream := &Stream{ctx: ctx, handle: fake()}
	module := &Module{ctx: ctx, handle: fake()}
	fn := &Function{module: module, handle: fake(), name: "fake"}

	// The backend keeps its Args in a struct with Go pointers, as this one.
	holder := &struct {
		next *int
		args Args
		more []string
	}{next: new(int), more: []string{"x"}}
	holder.args.Ptr(0x1000).Int(7).Float32(0.5)
	wantNotInitialized(t, "Launch", stream.Launch(fn, Linear(1, 32), &holder.args))
	wantNotInitialized(t, "Launch without arguments", stream.Launch(fn, Linear(1, 32), nil))

	host := make([]float32, 16)
	wantNotInitialized(t, "Upload", Upload(stream, 0x1000, host))
	wantNotInitialized(t, "Download", Download(stream, host, 0x1000))
	wantNotInitialized(t, "CopyToDevice", CopyToDevice(ctx, 0x1000, host))
	wantNotInitialized(t, "CopyFromDevice", CopyFromDevice(ctx, host, 0x1000))
	ids := make([]int32, 4)
	wantNotInitialized(t, "Upload of int32", Upload(stream, 0x1000, ids))

	_, err := ctx.LoadModule([]byte("not an image"))
	wantNotInitialized(t, "LoadModule", err)
	_, err = module.Function("fake")
	wantNotInitialized(t, "Function", err)
	_, err = ctx.Alloc(256)
	wantNotInitialized(t, "Alloc", err)
	_, err = ctx.AllocHost(256)
	wantNotInitialized(t, "AllocHost", err)
	_, err = ctx.NewStream()
	wantNotInitialized(t, "NewStream", err)
	_, err = ctx.NewEvent(true)
	wantNotInitialized(t, "NewEvent", err)
	_, _, err = ctx.MemInfo()
	wantNotInitialized(t, "MemInfo", err)
	wantNotInitialized(t, "Memset32", stream.Memset32(0x1000, 1, 4))
	wantNotInitialized(t, "CopyDeviceAsync", stream.CopyDeviceAsync(0x1000, 0x2000, 64))
	wantNotInitialized(t, "Synchronize", stream.Synchronize())

	blas := &BLAS{ctx: ctx, handle: fake()}
	wantNotInitialized(t, "Sgemm", blas.Sgemm(NoTrans, Trans, 2, 3, 4, 1, 0x1000, 2, 0x2000,
		3, 0, 0x3000, 2))
	wantNotInitialized(t, "GemmEx", blas.GemmEx(NoTrans, Trans, 2, 3, 4, 1, 0x1000, 2, 0x2000,
		3, 0, 0x3000, 2, ComputeFastTF32))
	wantNotInitialized(t, "SgemmStridedBatched", blas.SgemmStridedBatched(NoTrans, NoTrans, 2,
		2, 2, 1, 0x1000, 2, 4, 0x2000, 2, 4, 0, 0x3000, 2, 4, 3))
	_, err = ctx.NewBLAS()
	wantNotInitialized(t, "NewBLAS", err)
}
