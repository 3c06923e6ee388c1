// Package stream is the wire format between the engine and a build node
// that shares no file system with it (the Slurm executor): one byte stream
// in each direction carries several channels (the step's description, its
// live log, its result), and folders travel on one of them as a tar
// stream. Both directions use the same format.
//
// # Frames
//
// A stream begins with Magic ("AUTOBUILD-STREAM 1\n"), then holds frames
// until it ends. A frame is
//
//	1 byte         the channel (0-255)
//	4 bytes        n, the length of its data, big-endian, at most MaxFrame
//	n bytes        the data
//
// A stream ends cleanly only between two frames: an end inside a frame's
// header or data is an error (the sender died), and so is a length above
// MaxFrame. Mux writes frames; it is safe for concurrent use, and a frame
// is always written whole, never interleaved with another. A Channel
// splits a write larger than MaxFrame into several frames, in order.
// ReadFrames reads them. Bytes before the magic (a node's login shell
// printing a banner) are an error that quotes them, escaped and bounded
// to a few hundred bytes. Which channel carries what is the executor's
// protocol, not this package's.
//
// # Trees
//
// Pack writes a set of folders (Tree) as one tar stream in the POSIX PAX
// format, each folder under its top name ("t0", "t1", …): for each tree
// its top folder entry ("t0/"), then every entry below it, in lexical
// order, a folder before what it holds. It sends:
//
//   - folders, regular files and symlinks only; a FIFO, socket or device
//     anywhere in a tree is an error naming its path;
//   - permission bits (0o777; setuid, setgid and sticky bits are dropped);
//   - modification times to the nanosecond (make(1) compares them), of
//     symlinks too;
//   - symlinks' text verbatim: a link is never followed, wherever it
//     points (outside the tree, nowhere);
//   - hard links as separate regular files.
//
// It sends no owners (uid and gid 0, no names), no access times, no
// extended attributes. A file is opened without following a symlink, and
// only if it is still the entry the walk saw; one whose size changes
// while it is read is an error. Nothing outside a tree's folder is read,
// whatever is renamed inside it meanwhile (os.Root). The stream is the
// same, byte for byte, for the same folders: Summary's SHA256 identifies it.
//
// # Spooling and verifying
//
// The receiver writes the tar stream's frames into a Spool (a temporary
// file, bounded by SetLimit), then checks it against the Summary the
// sender sends after it (its size and SHA-256) before anything is
// unpacked: a stream cut short or changed on the way is never unpacked.
//
// # Unpacking
//
// Unpack writes each top name's entries into its destination folder, and
// nothing anywhere else, whatever the stream holds: it writes only
// through an os.Root per destination, and it refuses, with an error
// naming the entry, before writing it:
//
//   - an absolute name, a ".." or "." element, an empty element, a NUL,
//     a name or link text longer than 4096 bytes;
//   - a top name it has no destination for;
//   - any type but folder, regular file and symlink (hard links, FIFOs,
//     devices, GNU and PAX extensions it does not know);
//   - an entry whose parent folder the stream did not send before it
//     (so nothing is written through a symlink, the stream's or one the
//     destination held), save the entries right under a top name;
//   - an entry the stream already sent (a duplicate);
//   - a file or symlink that would replace a folder, or a folder that
//     would replace a file or symlink (a file or symlink replaces a file
//     or symlink the destination held: it is removed, never written
//     through);
//   - more than UnpackOptions.MaxEntries entries or MaxBytes bytes of file
//     data (checked from the header, before the data is written);
//   - data after the archive's end other than zero padding (of at most
//     1 MiB).
//
// Setuid, setgid and sticky bits are dropped, not refused. Every entry the
// stream names below a top gets UnpackOptions.UID and GID as owners when
// UID >= 0 (the zero value means root: pass -1 to keep the unpacking
// process's), set without following a symlink. Modes are the entries'
// permission bits, exactly (no umask); a folder's mode and time are set
// after its contents, so read-only folders unpack and folder times match
// the sender's. The destination folder itself keeps its owner and mode;
// its time becomes the top entry's.
//
// A failed Unpack leaves what it wrote so far: unpack into fresh folders
// and move them into place only once Unpack has returned nil.
package stream
