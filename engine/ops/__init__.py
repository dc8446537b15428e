"""Operations several tasks share: boxes and NMS, held-out metrics."""
