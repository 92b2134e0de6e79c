"""Face stage: find every face, get its landmarks, align it to a canonical crop."""
