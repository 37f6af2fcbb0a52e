//! Agora node agent (being written).
