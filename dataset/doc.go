// Package dataset reads the files of recur's tasks other than language modeling and batches
// their examples.
//
// A Vocab turns text into int32 ids, by characters or by words. ReadMatrix reads a float
// array from a .npy or .safetensors file. PadLeft, PadRight and Shuffle build time-major
// batches, in which element t·B+b is step t of sequence b, and ConfusionMatrix scores a
// classifier.
//
// ReadLabeled, ReadTagged, ReadPairs and ReadCaptions read example files that share one
// layout. Each line contains two fields separated by exactly one tab. Lines that are empty
// or contain only spaces and tabs are skipped, a trailing "\r" is removed, and so is a UTF-8
// byte order mark at the start of the file. Fields are kept verbatim, but a field that is
// empty or contains only spaces is an error. Lines may be of any length. A file must be
// valid UTF-8 and contain at least one example. Every error about a line names the file and
// line number and explains how to fix the line.
package dataset
