//! Turns a Worker bundle (ES modules in JS or TS) into one classic script V8 can run.
