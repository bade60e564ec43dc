package cuda

import (
	"errors"
	"fmt"
)

// captureTracker records whether a stream is capturing its work into a graph. While it is,
// the calls that wait for the stream (Synchronize, Upload, Download) fail here with a clear
// error, before the driver would fail them and invalidate the capture as well.
type captureTracker struct {
	active bool
	mode   CaptureMode
}

func (t *captureTracker) begin(mode CaptureMode) error {
	if t.active {
		return errors.New("cuda: BeginCapture: the stream is already being captured; " +
			"call EndCapture first")
	}
	switch mode {
	case CaptureGlobal, CaptureThreadLocal, CaptureRelaxed:
	default:
		return fmt.Errorf("cuda: BeginCapture: invalid capture mode %d", mode)
	}
	t.active, t.mode = true, mode
	return nil
}

// end marks the capture as over. The driver ends a capture also when cuStreamEndCapture
// fails, so the caller calls end whatever the driver returned.
func (t *captureTracker) end() error {
	if !t.active {
		return errors.New("cuda: EndCapture: the stream is not being captured; " +
			"call BeginCapture first")
	}
	t.active = false
	return nil
}

// check rejects op, a call that waits for the stream, while a capture is active.
func (t *captureTracker) check(op string) error {
	if t.active {
		return fmt.Errorf("cuda: %s waits for the stream, which is being captured into a "+
			"graph; call EndCapture first", op)
	}
	return nil
}

// captureSteps are the driver calls of a graph capture, G being the graph and E the
// instantiated graph. They are functions so that tests can run captureGraph without a GPU.
type captureSteps[G, E any] struct {
	begin       func(CaptureMode) error
	end         func() (G, error)
	instantiate func(G) (E, error)
	destroy     func(G) error
}

// captureGraph begins a capture, runs record, ends the capture and instantiates the graph,
// which it then destroys, because an instantiated graph does not depend on it. The capture
// ends even when record fails or panics, so the stream stays usable.
func captureGraph[G, E any](steps captureSteps[G, E], mode CaptureMode,
	record func() error) (exec E, err error) {
	if err := steps.begin(mode); err != nil {
		return exec, err
	}
	ended := false
	defer func() {
		if !ended {
			// record panicked: end the capture and drop the partial graph before the panic
			// continues.
			if g, endErr := steps.end(); endErr == nil {
				steps.destroy(g)
			}
		}
	}()
	recordErr := record()
	graph, endErr := steps.end()
	ended = true

	if recordErr != nil {
		if endErr == nil {
			steps.destroy(graph)
		}
		return exec, recordErr
	}
	if endErr != nil {
		return exec, endErr
	}
	exec, err = steps.instantiate(graph)
	if destroyErr := steps.destroy(graph); err == nil {
		err = destroyErr
	}
	return exec, err
}
