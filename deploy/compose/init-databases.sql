-- One database per service.
CREATE DATABASE bti_directory;
CREATE DATABASE bti_consent;
CREATE DATABASE bti_caselog;
CREATE DATABASE bti_gateway;
CREATE DATABASE bti_scheduling;
CREATE DATABASE bti_notification;
