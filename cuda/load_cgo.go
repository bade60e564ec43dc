//go:build cgo

package cuda

// Every cgo flag of the package is here. recur_cuda.c, compiled with the package, does the
// dlopen and dlsym; nothing links against a CUDA library.

/*
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "recur_cuda.h"
*/
import "C"

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"
)

// loaded caches the outcome of Load. The libraries stay loaded for the life of the process.
var loaded struct {
	once sync.Once
	info Info
	err  error
}

// minCUBLASMajor is the oldest cuBLAS accepted: cuBLAS 11 introduced cublasComputeType_t,
// whose values GemmEx passes.
const minCUBLASMajor = 11

// Load opens the driver library (libcuda.so.1) and cuBLAS, initializes the driver and returns
// what it found. The first call does the work, and later calls return the same outcome. An
// error that matches ErrUnavailable means that this machine has no usable driver, GPU or
// cuBLAS; the Info then describes what was found before the failure.
func Load() (*Info, error) {
	loaded.once.Do(func() { loaded.err = load(&loaded.info) })
	info := loaded.info
	return &info, loaded.err
}

func load(info *Info) error {
	info.DriverPath = DriverLibrary
	if msg, ok := loadDriver(DriverLibrary); !ok {
		return unavailable(fmt.Errorf("cuda: the NVIDIA driver library %s could not be loaded "+
			"(%s); install the NVIDIA driver", DriverLibrary, msg))
	}
	if file, ok := loadedFile(false); ok {
		info.DriverPath = file
	}
	info.Graphs = graphsAvailable()
	if err := status(C.rc_init()); err != nil {
		return unavailable(err)
	}
	version, err := driverVersion()
	if err != nil {
		return unavailable(err)
	}
	info.DriverVersion = version
	var count C.int
	if err := status(C.rc_device_count(&count)); err != nil {
		return unavailable(err)
	}
	info.Devices = int(count)
	if count == 0 {
		return unavailable(errors.New("cuda: the driver found no GPU; check nvidia-smi and " +
			"CUDA_VISIBLE_DEVICES"))
	}
	return loadCUBLAS(info)
}

// loadCUBLAS loads the first usable cuBLAS of cublasCandidates. A cuBLAS is usable when its
// symbols resolve and its major version is at least minCUBLASMajor and at most the driver's,
// because a cuBLAS newer than the driver fails in cublasCreate.
func loadCUBLAS(info *Info) error {
	explicit := os.Getenv(CUBLASEnv)
	driverMajor := info.DriverVersion / 1000
	var reasons []string
	for _, path := range cublasCandidates(explicit, filepath.Glob) {
		msg, ok := loadBLAS(path)
		if !ok {
			reasons = append(reasons, fmt.Sprintf("%s: %s", path, msg))
			continue
		}
		var version [3]int
		for i := range version {
			version[i], _ = blasProperty(i)
		}
		if version[0] < minCUBLASMajor || (driverMajor > 0 && version[0] > driverMajor) {
			reasons = append(reasons, fmt.Sprintf("%s: cuBLAS %d.%d needs CUDA %d to %d, "+
				"and the driver supports CUDA %s", path, version[0], version[1],
				minCUBLASMajor, driverMajor, FormatDriverVersion(info.DriverVersion)))
			continue
		}
		info.CUBLASName, info.CUBLASPath, info.CUBLASVersion = path, path, version
		if file, ok := loadedFile(true); ok {
			info.CUBLASPath = file
		}
		return nil
	}
	if explicit != "" {
		return unavailable(fmt.Errorf("cuda: %s=%q is not a usable cuBLAS (%s); fix the path "+
			"or unset %s", CUBLASEnv, explicit, strings.Join(reasons, "; "), CUBLASEnv))
	}
	return unavailable(fmt.Errorf("cuda: no usable cuBLAS found (%s); install cuBLAS (the "+
		"libcublas package of CUDA 11, 12 or 13, or a CUDA toolkit) or set %s to the path of "+
		"libcublas.so", strings.Join(reasons, "; "), CUBLASEnv))
}

// loadDriver and loadBLAS open a library and resolve its functions. On failure they return
// dlerror's message or the name of the missing symbol.
func loadDriver(path string) (string, bool) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var msg [512]byte
	if C.rc_load_driver(cpath, (*C.char)(unsafe.Pointer(&msg[0])), C.int(len(msg))) != 0 {
		return cString(msg[:]), false
	}
	return "", true
}

func loadBLAS(path string) (string, bool) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var msg [512]byte
	if C.rc_load_blas(cpath, (*C.char)(unsafe.Pointer(&msg[0])), C.int(len(msg))) != 0 {
		return cString(msg[:]), false
	}
	return "", true
}

// loadedFile returns the file of the loaded cuBLAS, or of the driver when blas is false, with
// symbolic links resolved.
func loadedFile(blas bool) (string, bool) {
	var path [4096]byte
	p, n := (*C.char)(unsafe.Pointer(&path[0])), C.int(len(path))
	var found C.int
	if blas {
		found = C.rc_blas_file(p, n)
	} else {
		found = C.rc_driver_file(p, n)
	}
	if found == 0 {
		return "", false
	}
	return cString(path[:]), true
}

// driverVersion returns the CUDA version the loaded driver supports, 1000·major + 10·minor.
// It does not need cuInit.
func driverVersion() (int, error) {
	var v C.int
	if err := status(C.rc_driver_version(&v)); err != nil {
		return 0, err
	}
	return int(v), nil
}

// blasProperty returns a version number of the loaded cuBLAS: its major version for 0, its
// minor version for 1 and its patch level for 2 (libraryPropertyType).
func blasProperty(property int) (int, error) {
	var v C.int
	if err := status(C.rc_blas_property(C.int(property), &v)); err != nil {
		return 0, err
	}
	return int(v), nil
}

// blasStatusNamesAvailable reports whether the loaded cuBLAS has cublasGetStatusName.
func blasStatusNamesAvailable() bool { return C.rc_blas_status_names_available() != 0 }

// graphsAvailable reports whether the loaded driver has the CUDA graph functions.
func graphsAvailable() bool { return C.rc_graphs_available() != 0 }

// cString returns the text of b up to its first NUL byte.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// status converts a wrapper's outcome into nil or an *Error naming the failed call.
func status(s C.rc_status) error {
	if s.code == 0 {
		return nil
	}
	call := C.GoString(s.call)
	if s.blas != 0 {
		var name string
		if p := C.rc_blas_status_name(s.code); p != nil {
			name = C.GoString(p)
		}
		return newError(call, int(s.code), true, name, "")
	}
	var name, description *C.char
	C.rc_error_text(s.code, &name, &description)
	return newError(call, int(s.code), false, goString(name), goString(description))
}

func goString(p *C.char) string {
	if p == nil {
		return ""
	}
	return C.GoString(p)
}

// requireLoaded returns Load's error, so that calls before a successful Load fail cleanly
// instead of calling through unresolved function pointers.
func requireLoaded() error {
	_, err := Load()
	return err
}

// device returns the CUdevice of an ordinal after checking it against the device count.
func device(ordinal int) (C.CUdevice, error) {
	if err := requireLoaded(); err != nil {
		return 0, err
	}
	if ordinal < 0 || ordinal >= loaded.info.Devices {
		return 0, fmt.Errorf("cuda: no GPU number %d: the driver reports %d (numbered 0 to %d); "+
			"nvidia-smi lists them", ordinal, loaded.info.Devices, loaded.info.Devices-1)
	}
	var dev C.CUdevice
	if err := status(C.rc_device_get(C.int(ordinal), &dev)); err != nil {
		return 0, err
	}
	return dev, nil
}

// DeviceProperties returns the name, compute capability, multiprocessor count and memory
// size of GPU number ordinal.
func DeviceProperties(ordinal int) (Device, error) {
	dev, err := device(ordinal)
	if err != nil {
		return Device{}, err
	}
	d := Device{Ordinal: ordinal}
	var name [256]byte
	if err := status(C.rc_device_name(dev, (*C.char)(unsafe.Pointer(&name[0])),
		C.int(len(name)))); err != nil {
		return Device{}, err
	}
	d.Name = cString(name[:])
	for _, attr := range []struct {
		id  int
		dst *int
	}{
		{attributeComputeMajor, &d.Major},
		{attributeComputeMinor, &d.Minor},
		{attributeMultiprocessorCount, &d.Multiprocessors},
	} {
		var v C.int
		if err := status(C.rc_device_attribute(dev, C.int(attr.id), &v)); err != nil {
			return Device{}, err
		}
		*attr.dst = int(v)
	}
	var total C.size_t
	if err := status(C.rc_device_total_mem(dev, &total)); err != nil {
		return Device{}, err
	}
	d.TotalMemory = int64(total)
	return d, nil
}

// OpenDevice retains the primary context of GPU number ordinal. Close releases it.
func OpenDevice(ordinal int) (*Context, error) {
	dev, err := device(ordinal)
	if err != nil {
		return nil, err
	}
	var ctx C.CUcontext
	if err := status(C.rc_primary_ctx_retain(dev, &ctx)); err != nil {
		return nil, err
	}
	return &Context{handle: unsafe.Pointer(ctx), device: int32(dev), ordinal: ordinal}, nil
}
