"""TAXII 2.1 (placeholder, filled in below)."""

from fastapi import APIRouter

router = APIRouter()
