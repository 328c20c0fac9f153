"""A tiny made-up DICOM image (a 4 by 4 pixel Secondary Capture): what the demo's archives
send back for a C-GET, and what the mirror tests and benchmark store in real archives."""

from __future__ import annotations

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian

SECONDARY_CAPTURE = UID("1.2.840.10008.5.1.4.1.1.7")


def tiny_image(
    *,
    study_uid: str,
    series_uid: str,
    sop_uid: str,
    number: int,
    patient_name: str,
    patient_id: str,
    study_date: str,
    study_time: str = "",
) -> Dataset:
    """One image of a made-up study (``number`` from 1): 16 black pixels, no real data."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SECONDARY_CAPTURE
    ds.file_meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    ds.SOPClassUID = SECONDARY_CAPTURE
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.StudyDate = study_date
    ds.StudyTime = study_time
    ds.Modality = "OT"
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = number
    ds.ConversionType = "WSD"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(16)
    return ds
