//! The lake output's Parquet chunks: levee-lake's encoder, given to the
//! pipeline through levee-io's seam, so the collector crates never build
//! arrow or parquet.

use levee_io::sinks::lake::ParquetEncoder;

/// [`levee_lake::parquet_chunk::encode_chunk`] as a [`ParquetEncoder`].
#[derive(Debug)]
pub struct LakeParquet;

impl ParquetEncoder for LakeParquet {
    fn encode(&self, chunk: &[u8], time_field: &str) -> Result<Vec<u8>, String> {
        levee_lake::parquet_chunk::encode_chunk(chunk, time_field).map_err(|e| e.to_string())
    }
}
