package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/recur-ml/recur/engine"
)

// runDevice prints the backend that --device would pick, with the GPU, driver and libraries
// found, or the reason CUDA is not used.
func runDevice(args []string, stdout, stderr io.Writer) error {
	var device, precision string
	fs := flag.NewFlagSet("recur device", flag.ContinueOnError)
	fs.StringVar(&device, "device", "auto", "backend to open: auto, cpu, cuda or cuda:N")
	fs.StringVar(&precision, "precision", "fp32", "CUDA matrix products: fp32, tf32 or bf16")
	if _, err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	be, note, err := engine.Open(device, precision)
	if err != nil {
		return err
	}
	defer be.Close()
	fmt.Fprintln(stdout, note)
	fmt.Fprintln(stdout, "backend:", be.Name())
	return nil
}
