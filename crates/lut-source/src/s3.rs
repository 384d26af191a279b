//! S3 source (in progress).
