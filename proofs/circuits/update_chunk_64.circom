pragma circom 2.1.0;

// The circuit meshwork ships: chunks of 64 int32 values (bits = 32). See update_chunk.circom.
include "update_chunk.circom";

component main {public [B, bind]} = UpdateChunk(64, 32);
